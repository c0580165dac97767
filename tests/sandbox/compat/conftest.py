"""The sandboxes the compatibility corpus runs on: the zygote one is started once per session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gradeflow.grading.sandbox import (
    ProcessSandbox,
    Sandbox,
    ZygoteSandbox,
    namespaces_unavailable_reason,
)


@pytest.fixture(scope="session")
def compat_zygote_sandbox() -> Iterator[ZygoteSandbox]:
    """One secure sandbox for the whole corpus; it is loop-agnostic, so each test's loop may use it."""
    reason = namespaces_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    sandbox = ZygoteSandbox(slots=2)
    yield sandbox
    asyncio.run(sandbox.close())


@pytest.fixture(params=["process", "zygote"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    if request.param == "process":
        return ProcessSandbox()
    zygote: ZygoteSandbox = request.getfixturevalue("compat_zygote_sandbox")
    return zygote
