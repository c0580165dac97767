"""Fixtures of the grading tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.models import Assignment
from gradeflow.courses.service import list_assignments
from gradeflow.settings import Settings
from tests.conftest import import_course_dir


@pytest.fixture
async def adder(
    settings: Settings, course_dir: Path, session_factory: async_sessionmaker[AsyncSession]
) -> Assignment:
    """The imported test course's first assignment (``add(a, b)``)."""
    await import_course_dir(settings, course_dir)
    async with session_factory() as session:
        return (await list_assignments(session))[0]
