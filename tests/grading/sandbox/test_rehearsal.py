"""The zygote's rehearsal of a run, and the compiled tests a judge may be handed."""

from __future__ import annotations

import base64
import importlib.util
import marshal
import sys
import threading
from collections import Counter

import pytest

from gradeflow.grading.sandbox.jailed import judge, proxies, rehearsal


def test_the_rehearsal_plays_every_kind_of_test_and_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard: list[tuple[str, object]] = []

    class Heard(judge.Channel):
        def send(self, event: str, **fields: object) -> None:
            heard.append((event, fields.get("outcome")))

    monkeypatch.setattr(judge, "Channel", Heard)
    threads = threading.active_count()

    rehearsal.rehearse(rounds=2)

    # Per round: four tests pass, one fails, one raises; each starts first.
    assert Counter(heard) == {
        ("start", None): 12,
        ("test", "passed"): 8,
        ("test", "failed"): 2,
        ("test", "error"): 2,
    }
    assert proxies.current is None
    assert rehearsal.MODULE not in sys.modules
    assert threading.active_count() == threads


def test_a_judge_takes_compiled_tests_of_its_own_interpreter_only() -> None:
    code = compile("VALUE = 42\n", "/task/tests.py", "exec", dont_inherit=True)
    compiled = {
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "code": base64.b64encode(marshal.dumps(code)).decode("ascii"),
    }

    loaded = judge.compiled_tests({"tests_code": compiled})

    assert loaded is not None
    namespace: dict[str, object] = {}
    exec(loaded, namespace)
    assert namespace["VALUE"] == 42
    assert judge.compiled_tests({}) is None
    assert judge.compiled_tests({"tests_code": {**compiled, "magic": "00000000"}}) is None
    assert judge.compiled_tests({"tests_code": {**compiled, "code": "not base64!"}}) is None
    not_code = base64.b64encode(marshal.dumps([1, 2])).decode("ascii")
    assert judge.compiled_tests({"tests_code": {**compiled, "code": not_code}}) is None
