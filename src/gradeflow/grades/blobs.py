"""Where uploaded files wait for their import: a directory, or PostgreSQL large objects.

Both stream: a new blob is written chunk by chunk as the upload arrives, and a
worker gets a local file to read (the directory's own file, or a temporary copy of
a large object), so no file is ever held whole in memory. Large objects live in
the database every web and worker host already reaches, so services mode needs no
shared disk; a directory is used there only when the operator names one
(``GRADEFLOW_BLOB_DIR``, e.g. an NFS mount). ``GRADEFLOW_BLOB_STORE=database`` says
so explicitly, and refuses to start without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gradeflow.errors import NotFound
from gradeflow.settings import Settings

CHUNK_BYTES = 1024 * 1024
_DIRECTORY_KEY = re.compile(r"^[0-9a-f]{32}$")
_LARGE_OBJECT_KEY = re.compile(r"^lo:([0-9]{1,10})$")


class BlobMissing(NotFound):
    """The uploaded file is no longer kept; upload it again."""


class NewBlob(Protocol):
    key: str

    async def write(self, data: bytes) -> None: ...


class BlobStore(Protocol):
    def create(self) -> AbstractAsyncContextManager[NewBlob]:
        """A new blob to write; it is kept only if the block ends without an exception."""

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file with the blob's content for the duration of the block."""

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing one is not an error."""


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
        partial = self.root / f"{key}.part"
        try:
            with partial.open("xb") as handle:
                blob = _DirectoryBlob(key, handle)
                yield blob
                await blob.flush()
            partial.rename(self.root / key)
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


class _LargeObject:
    def __init__(self, engine: AsyncEngine, oid: int) -> None:
        self.key = f"lo:{oid}"
        self.oid = oid
        self._engine = engine
        self._buffer = bytearray()
        self._offset = 0

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        chunk, self._buffer = bytes(self._buffer), bytearray()
        # One short transaction per chunk: a slow upload never holds a transaction open.
        async with self._engine.begin() as connection:
            await connection.execute(
                text("SELECT lo_put(:oid, :offset, :data)"),
                {"oid": self.oid, "offset": self._offset, "data": chunk},
            )
        self._offset += len(chunk)


class LargeObjectBlobStore:
    """Blobs as PostgreSQL large objects (``lo:<oid>``), reachable from every host."""

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
        async with self.engine.begin() as connection:
            oid = int(await connection.scalar(text("SELECT lo_create(0)")) or 0)
        blob = _LargeObject(self.engine, oid)
        try:
            yield blob
            await blob.flush()
        except BaseException:
            await asyncio.shield(self.delete(blob.key))
            raise

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
