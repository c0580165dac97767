"""Password hashes and session cookies."""

from __future__ import annotations

import pytest

from gradeflow.accounts import security
from gradeflow.accounts.security import SessionSigner, hash_password, verify_password
from tests.conftest import PRODUCTION_SCRYPT_N


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse battery")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterz", stored)
    assert not verify_password("", stored)


def test_production_hashes_at_scrypt_n_2_14_and_any_stored_cost_verifies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The suite hashes at a lower cost (tests/conftest.py); production's is this.
    assert PRODUCTION_SCRYPT_N == 2**14
    monkeypatch.setattr(security, "SCRYPT_N", PRODUCTION_SCRYPT_N)
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$16384$8$1$")
    monkeypatch.setattr(security, "SCRYPT_N", 2**10)
    assert verify_password("correct horse battery", stored)
    assert hash_password("x").startswith("scrypt$1024$8$1$")


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_a_malformed_or_foreign_hash_never_verifies() -> None:
    for stored in ["", "plain", "bcrypt$1$2$3$c2FsdA==$ZGlnZXN0", "scrypt$x$8$1$AA==$AA=="]:
        assert not verify_password("anything", stored)


def test_a_session_cookie_round_trips_and_refuses_tampering() -> None:
    signer = SessionSigner("secret-one")
    cookie = signer.dumps(42)
    assert signer.loads(cookie) == 42
    assert SessionSigner("secret-two").loads(cookie) is None
    assert signer.loads(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None
    assert signer.loads("") is None
