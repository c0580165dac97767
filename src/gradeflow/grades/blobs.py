"""Where uploaded files wait for their import: a directory, or PostgreSQL large objects.

Both stream: a new blob is written chunk by chunk as the upload arrives, and a
worker gets a local file to read (the directory's own file, or a temporary copy of
a large object), so no file is ever held whole in memory. Large objects live in
the database every web and worker host already reaches, so services mode needs no
shared disk; a directory is used there only when the operator names one
(``GRADEFLOW_BLOB_DIR``, e.g. an NFS mount). ``GRADEFLOW_BLOB_STORE=database`` says
so explicitly, and refuses to start without PostgreSQL.

A blob appears whole or not at all, whenever the process dies: a directory blob is
written as ``<key>.part``, fsynced and renamed; a large object is spooled to a local
``upload-*.part`` file while the body arrives (no database connection held) and
written in one transaction at the end. A crash leaves at most a ``.part`` file, or a
complete blob whose upload was never recorded; ``orphans`` and ``remove_partial``
let the importer's sweeper delete them once they are ``ORPHAN_AGE`` old.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gradeflow.db import utcnow
from gradeflow.errors import NotFound
from gradeflow.settings import Settings

CHUNK_BYTES = 1024 * 1024
# A partial or unrecorded blob this old belongs to an upload that died: no upload
# takes an hour between two chunks, nor between its blob and its row.
ORPHAN_AGE = dt.timedelta(hours=1)
ORPHANS_PER_SWEEP = 100
_PARTIAL_SUFFIX = ".part"
_SPOOL_PREFIX = "upload-"
_LARGE_OBJECT_MARK = "gradeflow blob "
_DIRECTORY_KEY = re.compile(r"^[0-9a-f]{32}$")
_LARGE_OBJECT_KEY = re.compile(r"^lo:([0-9]{1,10})$")


class BlobMissing(NotFound):
    """The uploaded file is no longer kept; upload it again."""


class NewBlob(Protocol):
    @property
    def key(self) -> str:
        """The blob's name; read it once the blob is complete (its ``create`` block ended)."""

    async def write(self, data: bytes) -> None: ...


class BlobStore(Protocol):
    def create(self) -> AbstractAsyncContextManager[NewBlob]:
        """A new blob to write; it is kept only if the block ends without an exception."""

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file with the blob's content for the duration of the block."""

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing one is not an error."""

    async def orphans(self, *, older_than: dt.timedelta) -> list[str]:
        """Keys of complete blobs made before ``older_than`` ago (some, not all at once);
        the caller deletes those no upload names."""

    async def remove_partial(self, *, older_than: dt.timedelta) -> int:
        """Delete what died mid-write before ``older_than`` ago; how many."""


def _fsync_directory(path: Path) -> None:
    """Make a rename in ``path`` survive a power loss."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _finish_file(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _stale_files(directory: Path, *, pattern: str, older_than: dt.timedelta) -> list[Path]:
    """Files in ``directory`` matching ``pattern`` last written before ``older_than`` ago."""
    if not directory.is_dir():
        return []
    cutoff = time.time() - older_than.total_seconds()
    stale = []
    for path in directory.glob(pattern):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                stale.append(path)
        except FileNotFoundError:
            continue  # deleted meanwhile
        if len(stale) >= ORPHANS_PER_SWEEP:
            break
    return stale


def _unlink_all(paths: list[Path]) -> int:
    for path in paths:
        path.unlink(missing_ok=True)
    return len(paths)


class _DirectoryBlob:
    def __init__(self, key: str, handle: IO[bytes]) -> None:
        self.key = key
        self._handle = handle
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self._handle.write, chunk)


class DirectoryBlobStore:
    """Blobs as files named by random keys; written as ``.part`` and renamed when complete."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _DIRECTORY_KEY.match(key):
            raise BlobMissing()
        return self.root / key

    @asynccontextmanager
    async def create(self) -> AsyncIterator[NewBlob]:
        self.root.mkdir(parents=True, exist_ok=True)
        key = uuid.uuid4().hex
        partial = self.root / f"{key}{_PARTIAL_SUFFIX}"
        try:
            with partial.open("xb") as handle:
                blob = _DirectoryBlob(key, handle)
                yield blob
                await blob.flush()
                # On disk before it has its name: a crash never leaves a short blob.
                await asyncio.to_thread(_finish_file, handle)
            partial.rename(self.root / key)
            await asyncio.to_thread(_fsync_directory, self.root)
        finally:
            partial.unlink(missing_ok=True)

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self._path(key)
        if not path.exists():
            raise BlobMissing()
        yield path

    async def delete(self, key: str) -> None:
        if _DIRECTORY_KEY.match(key):
            (self.root / key).unlink(missing_ok=True)

    async def orphans(self, *, older_than: dt.timedelta) -> list[str]:
        found = await asyncio.to_thread(
            _stale_files, self.root, pattern="?" * 32, older_than=older_than
        )
        return [path.name for path in found if _DIRECTORY_KEY.match(path.name)]

    async def remove_partial(self, *, older_than: dt.timedelta) -> int:
        found = await asyncio.to_thread(
            _stale_files, self.root, pattern=f"*{_PARTIAL_SUFFIX}", older_than=older_than
        )
        return await asyncio.to_thread(_unlink_all, found)


class _SpooledBlob:
    """A large object's content on its way: a local file until the body has arrived."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.oid: int | None = None
        self._handle = handle
        self._buffer = bytearray()

    @property
    def key(self) -> str:
        if self.oid is None:
            raise RuntimeError("A large object is named once it is complete.")
        return f"lo:{self.oid}"

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self._handle.write, chunk)


class LargeObjectBlobStore:
    """Blobs as PostgreSQL large objects (``lo:<oid>``), reachable from every host.

    Each is written in one transaction, from a local spool file, once the upload has
    arrived: a crash leaves no partial large object, and no connection waits on a
    slow client. Its creation time is kept in its comment, which tells an orphan.
    """

    def __init__(self, engine: AsyncEngine, *, scratch: Path) -> None:
        self.engine = engine
        self.scratch = scratch

    @staticmethod
    def _oid(key: str) -> int:
        match = _LARGE_OBJECT_KEY.match(key)
        if match is None:
            raise BlobMissing()
        return int(match.group(1))

    @asynccontextmanager
    async def create(self) -> AsyncIterator[NewBlob]:
        self.scratch.mkdir(parents=True, exist_ok=True)
        spool = self.scratch / f"{_SPOOL_PREFIX}{uuid.uuid4().hex}{_PARTIAL_SUFFIX}"
        try:
            with spool.open("x+b") as handle:
                blob = _SpooledBlob(handle)
                yield blob
                await blob.flush()
                handle.seek(0)
                blob.oid = await self._store(handle)
        finally:
            spool.unlink(missing_ok=True)

    async def _store(self, handle: IO[bytes]) -> int:
        """The spooled content as a new large object, in one transaction; its oid."""
        async with self.engine.begin() as connection:
            oid = int(await connection.scalar(text("SELECT lo_create(0)")) or 0)
            offset = 0
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                await connection.execute(
                    text("SELECT lo_put(:oid, :offset, :data)"),
                    {"oid": oid, "offset": offset, "data": chunk},
                )
                offset += len(chunk)
            # COMMENT takes no parameters; both parts are ours (an int and a timestamp).
            mark = f"{_LARGE_OBJECT_MARK}{utcnow().isoformat()}"
            await connection.execute(text(f"COMMENT ON LARGE OBJECT {oid} IS '{mark}'"))
        return oid

    async def orphans(self, *, older_than: dt.timedelta) -> list[str]:
        cutoff = (utcnow() - older_than).isoformat()
        async with self.engine.connect() as connection:
            found = await connection.scalars(
                text(
                    "SELECT m.oid FROM pg_largeobject_metadata m "
                    "JOIN pg_description d ON d.objoid = m.oid "
                    "AND d.classoid = 'pg_largeobject'::regclass "
                    "WHERE d.description LIKE :mark "
                    "AND substr(d.description, :start) < :cutoff "
                    "ORDER BY m.oid LIMIT :limit"
                ),
                {
                    "mark": f"{_LARGE_OBJECT_MARK}%",
                    "start": len(_LARGE_OBJECT_MARK) + 1,
                    "cutoff": cutoff,
                    "limit": ORPHANS_PER_SWEEP,
                },
            )
            return [f"lo:{oid}" for oid in found]

    async def remove_partial(self, *, older_than: dt.timedelta) -> int:
        found = await asyncio.to_thread(
            _stale_files,
            self.scratch,
            pattern=f"{_SPOOL_PREFIX}*{_PARTIAL_SUFFIX}",
            older_than=older_than,
        )
        return await asyncio.to_thread(_unlink_all, found)

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        oid = self._oid(key)
        self.scratch.mkdir(parents=True, exist_ok=True)
        async with self.engine.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_largeobject_metadata WHERE oid = :oid"), {"oid": oid}
            )
        if not exists:
            raise BlobMissing()
        with tempfile.TemporaryDirectory(dir=self.scratch) as directory:
            path = Path(directory) / "blob"
            with path.open("wb") as handle:
                offset = 0
                while True:
                    async with self.engine.connect() as connection:
                        chunk = await connection.scalar(
                            text("SELECT lo_get(:oid, :offset, :length)"),
                            {"oid": oid, "offset": offset, "length": CHUNK_BYTES},
                        )
                    if not chunk:
                        break
                    await asyncio.to_thread(handle.write, chunk)
                    offset += len(chunk)
            yield path

    async def delete(self, key: str) -> None:
        oid = self._oid(key)
        async with self.engine.begin() as connection:
            await connection.execute(
                text("SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = :oid"),
                {"oid": oid},
            )


def open_blob_store(settings: Settings, engine: AsyncEngine) -> BlobStore:
    """``GRADEFLOW_BLOB_STORE`` if set; else the operator's directory if set; large
    objects in services mode on PostgreSQL; else a directory in the data dir (one host)."""
    scratch = settings.data_dir / "tmp"
    store = settings.blob_store
    if store == "auto":
        on_postgres = engine.dialect.name == "postgresql"
        shared = settings.blob_dir is None and not settings.embedded and on_postgres
        store = "database" if shared else "directory"
    if store == "database":
        return LargeObjectBlobStore(engine, scratch=scratch)
    return DirectoryBlobStore(settings.blob_dir or settings.data_dir / "blobs")
