"""Choose the sandbox a worker runs: the secure one, or the insecure one only if asked.

``namespaces_unavailable_reason`` answers whether ``ZygoteSandbox`` works on this
host, as root or as the invoking user, by checking the prerequisites (for an
unprivileged user, the kernel settings that can forbid user namespaces) and then
grading a tiny assignment through a real zygote, so a kernel or container that refuses any step is found at start-up,
with the step named, rather than at the first submission.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading

import structlog

from gradeflow.grading.sandbox.jailed.seccomp import native_abi
from gradeflow.grading.sandbox.process import ProcessSandbox
from gradeflow.grading.sandbox.spec import RunSpec, Sandbox
from gradeflow.grading.sandbox.uids import NotPrivateDirectory
from gradeflow.grading.sandbox.zygote_client import CgroupMode, ZygoteSandbox

log = structlog.get_logger(__name__)

_PROBE_TESTS = b"""\
import unittest
from probe import answer

class ProbeTest(unittest.TestCase):
    def test_answer(self):
        self.assertEqual(answer(), 42)
"""


_PROBE_SPEC = RunSpec(
    files={"tests.py": _PROBE_TESTS, "probe.py": b"def answer():\n    return 42\n"},
    module="probe",
    test_ids=("ProbeTest.test_answer",),
    time_limit_s=10,
    memory_mb=256,
)


class SandboxUnavailable(RuntimeError):
    """The secure sandbox cannot run on this host."""


def namespaces_unavailable_reason() -> str | None:
    """None when ``ZygoteSandbox`` can run here; else one sentence saying why not."""
    return _reason()


@functools.cache
def _reason() -> str | None:
    missing = _missing_prerequisite()
    if missing is not None:
        return missing
    # In a thread with its own loop: the caller may be inside a running event loop.
    outcome: list[str | BaseException | None] = []

    async def probe() -> str | None:
        sandbox = ZygoteSandbox(slots=1)
        try:
            return await _self_test(sandbox)
        finally:
            await sandbox.close()

    def target() -> None:
        try:
            outcome.append(asyncio.run(probe()))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, name="sandbox-probe")
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _missing_prerequisite() -> str | None:
    """Why ``ZygoteSandbox`` cannot run here, as far as the host's settings tell."""
    if sys.platform != "linux":
        return "The secure sandbox needs Linux namespaces and seccomp; this is not Linux."
    if native_abi() is None:
        return f"The secure sandbox has no seccomp filter for this machine ({os.uname().machine})."
    if not os.path.exists("/proc/self/ns/user"):
        return "This kernel has no user namespaces, which the secure sandbox needs."
    if os.geteuid() != 0:
        blocker = user_namespace_blocker()
        if blocker is not None:
            return f"{blocker}; or start the worker as root."
    return None


async def _self_test(sandbox: ZygoteSandbox) -> str | None:
    """Start ``sandbox`` and grade a one-test assignment in it: None if that passed,
    else why not (the caller closes the sandbox)."""
    unprivileged = os.geteuid() != 0
    try:
        await sandbox.start()
        result = await sandbox.run(_PROBE_SPEC)
    except NotPrivateDirectory as exc:
        # Not a namespace problem: someone else made (or opened up) the directory first.
        return (
            f"The secure sandbox could not start here: {exc}. Another user made it, or "
            "its mode lets others in: remove it, or set XDG_RUNTIME_DIR (or TMPDIR) to a "
            "directory only you can enter."
        )
    except Exception as exc:
        return f"The secure sandbox could not start here: {exc}.{_hint(unprivileged)}"
    if result.outcome != "passed":
        return (
            f"The secure sandbox failed its self-test here: {result.message}{_hint(unprivileged)}"
        )
    return None


def user_namespace_blocker(proc_sys: str = "/proc/sys") -> str | None:
    """The kernel setting that keeps unprivileged users from creating user
    namespaces, as a sentence saying what to change; None if none of them does."""
    # Each setting, the value of it that blocks, and what to do instead.
    settings = {
        "kernel/unprivileged_userns_clone": (
            "0",
            "Unprivileged user namespaces are disabled (Debian's "
            "kernel.unprivileged_userns_clone = 0): set it to 1",
        ),
        "user/max_user_namespaces": (
            "0",
            "User namespaces are disabled (user.max_user_namespaces = 0): set it to "
            "a positive number, e.g. 10000",
        ),
        "kernel/apparmor_restrict_unprivileged_userns": (
            "1",
            "AppArmor keeps unprivileged processes from using user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10 and "
            "later): set it to 0, or give the interpreter an AppArmor profile that "
            "allows userns",
        ),
    }
    for name, (blocking, advice) in settings.items():
        try:
            with open(os.path.join(proc_sys, name)) as file:
                value = file.read().strip()
        except OSError:
            continue  # this kernel does not have that setting
        if value == blocking:
            return advice
    return None


def _hint(unprivileged: bool) -> str:
    if not unprivileged:
        return ""
    return (
        " Unprivileged, the secure sandbox needs user namespaces: check "
        "kernel.unprivileged_userns_clone, user.max_user_namespaces and "
        "kernel.apparmor_restrict_unprivileged_userns, or start the worker as root."
    )


async def start_sandbox(*, slots: int, insecure: bool, cgroups: CgroupMode = "auto") -> Sandbox:
    """The secure sandbox, started and seen to grade; ``ProcessSandbox`` only if the
    secure one cannot run here and ``insecure``. One zygote: the self-test runs in the
    sandbox that is then used. ``cgroups``: per-process cgroup v2 limits (see
    ``ZygoteSandbox``)."""
    reason = _missing_prerequisite()
    if reason is None:
        secure = ZygoteSandbox(slots=slots, cgroups=cgroups)
        reason = await _self_test(secure)
        if reason is None:
            return secure
        await secure.close()
    if not insecure:
        raise SandboxUnavailable(
            f"{reason} Refusing to grade without isolation; pass --insecure-sandbox "
            "to use the unisolated sandbox for development only."
        )
    log.warning(
        "sandbox.INSECURE",
        reason=reason,
        consequence="student code runs with the worker's uid, filesystem and network; "
        "never use this with untrusted submissions",
    )
    insecure_sandbox = ProcessSandbox()
    await insecure_sandbox.start()
    return insecure_sandbox
