"""Which blob store a process opens: the operator's explicit choice first."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gradeflow.db import create_engine
from gradeflow.grades.blobs import DirectoryBlobStore, LargeObjectBlobStore, open_blob_store
from gradeflow.settings import Settings

PG_URL = "postgresql+asyncpg://gradeflow@db.internal/gradeflow"
AMQP_URL = "amqp://mq.internal/"


async def test_database_is_chosen_explicitly_even_beside_a_blob_dir(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=PG_URL,
        broker_url=AMQP_URL,
        blob_dir=tmp_path / "nfs",
        blob_store="database",
    )
    engine = create_engine(settings.resolved_database_url)
    try:
        assert isinstance(open_blob_store(settings, engine), LargeObjectBlobStore)
    finally:
        await engine.dispose()


async def test_auto_keeps_the_named_directory_and_otherwise_uses_large_objects(
    tmp_path: Path,
) -> None:
    named = Settings(data_dir=tmp_path, database_url=PG_URL, broker_url=AMQP_URL, blob_dir=tmp_path)
    unnamed = Settings(data_dir=tmp_path, database_url=PG_URL, broker_url=AMQP_URL)
    engine = create_engine(PG_URL)
    try:
        assert isinstance(open_blob_store(named, engine), DirectoryBlobStore)
        assert isinstance(open_blob_store(unnamed, engine), LargeObjectBlobStore)
    finally:
        await engine.dispose()


def test_a_database_blob_store_without_postgresql_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="GRADEFLOW_BLOB_STORE=database needs"):
        Settings(data_dir=tmp_path, broker_url=AMQP_URL, blob_store="database")
