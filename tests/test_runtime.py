"""What a process's runtime is built with, from its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradeflow.grading.worker import GROUP_LINGER_S
from gradeflow.runtime import grader_config
from gradeflow.settings import Settings


@pytest.mark.parametrize("broker_url", ["", "amqp://guest:guest@127.0.0.1:5672/"])
def test_a_grader_groups_its_claims_and_results_in_either_mode(
    tmp_path: Path, broker_url: str
) -> None:
    settings = Settings(data_dir=tmp_path, broker_url=broker_url, grader_slots=2)
    config = grader_config(settings)
    assert config.claim_ahead == settings.resolved_claim_ahead
    assert config.claim_ahead > config.slots
    assert config.group_linger_s == GROUP_LINGER_S
