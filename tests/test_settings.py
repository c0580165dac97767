"""Settings refuse what would silently misbehave across hosts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gradeflow.settings import Settings


def test_trusted_proxies_take_addresses_and_networks(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, trusted_proxies=" 10.0.0.5, 10.1.0.0/16,::1")
    assert settings.trusted_proxies == "10.0.0.5,10.1.0.0/16,::1"


@pytest.mark.parametrize("value", ["*", "nginx.internal", "10.0.0.0/33", ""])
def test_trusted_proxies_refuse_anything_but_addresses(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError, match="not an address or network"):
        Settings(data_dir=tmp_path, trusted_proxies=value)


@pytest.mark.parametrize(
    ("broker_url", "claim_ahead", "expected"),
    [
        # The only grading process: its claims ahead keep no job from another grader.
        ("", -1, 32),
        # A worker's claims ahead are its prefetch, which other workers cannot take.
        ("amqp://guest:guest@127.0.0.1:5672/", -1, 16),
        ("", 3, 3),
    ],
)
def test_claims_ahead_default_to_more_in_embedded_mode(
    tmp_path: Path, broker_url: str, claim_ahead: int, expected: int
) -> None:
    settings = Settings(
        data_dir=tmp_path, broker_url=broker_url, grader_slots=2, grader_claim_ahead=claim_ahead
    )
    assert settings.resolved_claim_ahead == expected
