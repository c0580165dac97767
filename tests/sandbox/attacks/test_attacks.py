"""Every attack of the corpus against the secure sandbox, and the host checked after each.

After each attack: its outcome is the expected one, the secret appears nowhere in
what the run produced, the canary files are unchanged, no process of the run is
left on the host and it left no file in the host's shared directories (see
``leftovers``: as root, nothing of the slots' uids; unprivileged, no process
without capabilities under the zygote and no new file of ours), the zygote is the
same process and alive, and the next run grades a correct solution normally.
"""

from __future__ import annotations

import os
import platform
import re
import time

import pytest

from gradeflow.courses.discovery import discover_test_ids
from gradeflow.grading.sandbox import RunResult, RunSpec
from tests.grading.sandbox.leftovers import files_owned_by, run_processes
from tests.grading.sandbox.time_scale import scaled
from tests.sandbox.attacks.conftest import SHARED_DIRS, Host
from tests.sandbox.attacks.corpus import ATTACKS, SOLUTION, Attack

TESTS = """
import unittest

from two_fer import two_fer


class TwoFerTest(unittest.TestCase):
    def test_no_name(self):
        self.assertEqual(two_fer(), "One for you, one for me.")

    def test_a_name(self):
        self.assertEqual(two_fer("Alice"), "One for Alice, one for me.")

    def test_another_name(self):
        self.assertEqual(two_fer("Bob"), "One for Bob, one for me.")
"""
TEST_IDS = discover_test_ids(TESTS)
X86_64_ONLY = {"kernel_attack_surface"}


def spec_for(code: str, *, time_limit_s: float = 2.0, memory_mb: int = 128) -> RunSpec:
    return RunSpec(
        files={"tests.py": TESTS.encode(), "two_fer.py": code.encode()},
        module="two_fer",
        test_ids=TEST_IDS,
        time_limit_s=scaled(time_limit_s),
        memory_mb=memory_mb,
    )


def everything_said(result: RunResult) -> str:
    parts = [result.message, result.stdout, result.stderr]
    parts += [test.message for test in result.tests]
    return "\n".join(parts)


def test_the_corpus_has_at_least_forty_attacks() -> None:
    assert len(ATTACKS) >= 40
    assert len({attack.name for attack in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
async def test_attack_is_contained(attack: Attack, host: Host) -> None:
    if attack.name in X86_64_ONLY and platform.machine() != "x86_64":
        pytest.skip("syscall numbers of x86_64")
    sandbox = host.sandbox
    zygote = sandbox.zygote_pid
    code = (
        attack.code.replace("SECRET", host.secret)
        .replace("WORKER_PID", str(os.getpid()))
        .replace("CANARY_DIR", str(host.canary_dir))
    )
    started = time.monotonic()

    result = await sandbox.run(
        spec_for(code, time_limit_s=attack.time_limit_s, memory_mb=attack.memory_mb)
    )

    wanted = attack.outcomes
    if sandbox.cgroup_limits and attack.cgroup_outcomes is not None:
        wanted = attack.cgroup_outcomes
    assert result.outcome in wanted, (result.outcome, result.message, result.stderr)
    # Ended by its limits, never left running (a margin no loaded machine needs).
    assert time.monotonic() - started < scaled(attack.time_limit_s + 20.0)
    if attack.message is not None:
        assert re.search(attack.message, result.message), result.message
    if attack.check is not None:
        attack.check(result)
    assert host.secret not in everything_said(result)
    assert host.canary_digests() == host.canaries
    assert run_processes(sandbox) == []
    if sandbox.privileged:
        assert files_owned_by(sandbox.uids, *SHARED_DIRS) == []
    else:
        assert set(files_owned_by((os.getuid(),), *SHARED_DIRS)) <= host.own_files
    assert sandbox.zygote_pid == zygote
    following = await sandbox.run(spec_for(SOLUTION))
    assert following.outcome == "passed", following.message
