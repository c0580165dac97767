"""A process killed while it receives an upload leaves no partial blob, and the sweeper
deletes what it left (its partial write, and a complete blob no upload names)."""

from __future__ import annotations

import datetime as dt
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.db import transaction
from gradeflow.grades import blobs as blob_module
from gradeflow.grades.blobs import (
    BlobStore,
    DirectoryBlobStore,
    LargeObjectBlobStore,
    open_blob_store,
)
from gradeflow.grades.models import GradeUpload
from gradeflow.grades.worker import Importer, ImporterConfig
from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings
from tests.factories import create_account, memory_outbox

# Writes chunks until it is killed; says so once the first one is written.
WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from gradeflow.db import create_engine
    from gradeflow.grades.blobs import DirectoryBlobStore, LargeObjectBlobStore

    async def main(kind: str, place: str, url: str) -> None:
        if kind == "directory":
            store = DirectoryBlobStore(Path(place))
        else:
            store = LargeObjectBlobStore(create_engine(url), scratch=Path(place))
        async with store.create() as blob:
            for _ in range(10_000):
                await blob.write(b"x" * (1024 * 1024))
                print("writing", flush=True)
                await asyncio.sleep(0.05)

    asyncio.run(main(*sys.argv[1:4]))
    """
)


def _store(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> BlobStore:
    bind = factory.kw["bind"]
    if bind.dialect.name == "postgresql":
        return LargeObjectBlobStore(bind, scratch=settings.data_dir / "tmp")
    return DirectoryBlobStore(settings.data_dir / "blobs")


def _place(store: BlobStore) -> tuple[str, Path]:
    if isinstance(store, LargeObjectBlobStore):
        return "database", store.scratch
    assert isinstance(store, DirectoryBlobStore)
    return "directory", store.root


def _kill_while_writing(kind: str, place: Path, url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, kind, str(place), url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")},
    )
    try:
        assert process.stdout is not None
        # Bounded: a writer that says nothing in two minutes fails the test.
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, "the writer never started writing"
        assert process.stdout.readline().strip() == "writing"
        process.kill()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


async def _large_objects(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(text("SELECT count(*) FROM pg_largeobject_metadata")) or 0)


def _age(paths: list[Path]) -> None:
    old = time.time() - 2 * blob_module.ORPHAN_AGE.total_seconds()
    for path in paths:
        os.utime(path, (old, old))


async def _age_large_object(factory: async_sessionmaker[AsyncSession], key: str) -> None:
    oid = int(key.removeprefix("lo:"))
    then = (dt.datetime.now(dt.UTC) - 2 * blob_module.ORPHAN_AGE).isoformat()
    async with transaction(factory) as session:
        await session.execute(text(f"COMMENT ON LARGE OBJECT {oid} IS 'gradeflow blob {then}'"))


async def _complete(store: BlobStore, content: bytes) -> str:
    async with store.create() as blob:
        await blob.write(content)
    return blob.key


async def test_a_killed_upload_leaves_no_partial_blob_and_the_sweeper_removes_leftovers(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    store = _store(settings, session_factory)
    kind, place = _place(store)
    place.mkdir(parents=True, exist_ok=True)
    _kill_while_writing(kind, place, settings.resolved_database_url)

    # Only a partial write is left: no blob anyone could take for a whole file.
    leftovers = sorted(place.iterdir())
    assert [path.suffix for path in leftovers] == [".part"]
    if kind == "database":
        assert await _large_objects(session_factory) == 0

    # Two complete blobs: one an upload names, one whose upload died before its row.
    teacher = await create_account(session_factory, "t@example.org", role=Role.teacher)
    recorded = await _complete(store, b"student,grade\n")
    unrecorded = await _complete(store, b"student,grade\n")
    async with transaction(session_factory) as session:
        await session.execute(
            text(
                "INSERT INTO courses (slug, title, description, public, created_at, updated_at) "
                "VALUES ('c', 'C', '', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        course_id = await session.scalar(text("SELECT id FROM courses WHERE slug = 'c'"))
        session.add(
            GradeUpload(
                course_id=course_id,
                uploaded_by_id=teacher,
                filename="g.csv",
                size=14,
                sha256="0" * 64,
                blob_key=recorded,
                dry_run=True,
                status="validated",
                phase="done",
                rows_done=0,
                errors=[],
                errors_total=0,
                changes=[],
                changes_total=0,
                message="",
                attempts=1,
            )
        )
    outbox = memory_outbox(session_factory)
    importer = Importer(
        session_factory=session_factory,
        queue=outbox.queue,
        outbox=outbox,
        blobs=store,
        config=ImporterConfig(slots=1, max_attempts=3, lease_s=30, sweep_interval_s=60),
    )

    # Young leftovers may belong to uploads still arriving: kept.
    assert await importer.remove_orphan_blobs() == 0
    assert leftovers[0].exists()

    _age(leftovers)
    if kind == "database":
        await _age_large_object(session_factory, recorded)
        await _age_large_object(session_factory, unrecorded)
    else:
        _age([store.root / recorded, store.root / unrecorded])
    assert await importer.remove_orphan_blobs() == 2
    assert not leftovers[0].exists()
    async with store.local_copy(recorded) as path:
        assert path.read_bytes() == b"student,grade\n"
    with pytest.raises(blob_module.BlobMissing):
        async with store.local_copy(unrecorded):
            pass
    if kind == "database":
        assert await _large_objects(session_factory) == 1


async def test_every_process_deletes_old_partial_writes_at_start(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # The store the process itself opens (embedded here: a directory on both databases).
    store = open_blob_store(settings, session_factory.kw["bind"])
    _, place = _place(store)
    place.mkdir(parents=True, exist_ok=True)
    name = "upload-0.part" if isinstance(store, LargeObjectBlobStore) else f"{'0' * 32}.part"
    old, young = place / name, place / name.replace("0", "1")
    old.write_bytes(b"student,gr")
    young.write_bytes(b"student,gr")
    _age([old])
    async with open_runtime(settings, grading=False):
        pass
    assert (old.exists(), young.exists()) == (False, True)
