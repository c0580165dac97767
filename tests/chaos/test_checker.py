"""The chaos checker's rules for submit attempts (``bench/chaos_load.check_attempts``),
on hand-made journals and rows: a rule that never fires proves nothing in a chaos run."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.services.conftest import ROOT


@pytest.fixture(scope="module")
def chaos_load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos_load", ROOT / "bench" / "chaos_load.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up by name.
    sys.modules["chaos_load"] = module
    spec.loader.exec_module(module)
    return module


def lost_answer(user_id: int = 7) -> dict[str, Any]:
    return {
        "who": "s0@chaos.test",
        "user_id": user_id,
        "code_hash": "ab" * 32,
        "expected": "passed",
        "outcome": "unknown",
        "answer": "503",
    }


def stored(status: str = "passed", sid: int = 41) -> dict[tuple[int, str], list[Any]]:
    return {(7, "ab" * 32): [{"id": sid, "status": status, "feedback": None}]}


def test_a_lost_answer_stored_and_streamed_final_is_no_violation(chaos_load: ModuleType) -> None:
    violations, counts = chaos_load.check_attempts(
        [lost_answer()], stored(), {41: ["passed"]}, {"7": {"41": "passed"}}
    )
    assert violations == []
    assert counts["unknown_stored"] == 1


@pytest.mark.parametrize(
    "streamed",
    [{}, {"7": {}}, {"7": {"41": "queued"}}, {"7": {"41": "running"}}, {"7": {"41": "failed"}}],
)
def test_a_lost_answer_whose_stream_missed_its_final_state_is_a_violation(
    chaos_load: ModuleType, streamed: dict[str, dict[str, str]]
) -> None:
    violations, _ = chaos_load.check_attempts([lost_answer()], stored(), {41: ["passed"]}, streamed)
    assert len(violations) == 1
    assert "its stream's last state is" in violations[0]


def test_a_lost_answer_stored_twice_or_left_queued_is_a_violation(chaos_load: ModuleType) -> None:
    twice = {(7, "ab" * 32): [{"id": 41, "status": "passed"}, {"id": 42, "status": "passed"}]}
    violations, _ = chaos_load.check_attempts([lost_answer()], twice, {}, {})
    assert [v.split(": ", 1)[1] for v in violations] == [
        "answer lost (503), stored twice: [41, 42]"
    ]
    violations, _ = chaos_load.check_attempts(
        [lost_answer()], stored("queued"), {}, {"7": {"41": "queued"}}
    )
    assert [v.split(": ", 1)[1] for v in violations] == ["stored as 41, still queued"]


def test_a_lost_answer_never_stored_is_no_violation(chaos_load: ModuleType) -> None:
    violations, counts = chaos_load.check_attempts([lost_answer()], {}, {}, {})
    assert (violations, counts["unknown"], counts["unknown_stored"]) == ([], 1, 0)
