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
