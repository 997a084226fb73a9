"""Content-addressed files: bytes under ``<files-dir>/<sha[:2]>/<sha>``, one row each in ``files``.

An upload is streamed to a temporary file while it is hashed, so a body over the limit or with
the wrong digest never reaches the store. Nothing half-written is left behind on failure.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy.exc import IntegrityError

from aadsys.core.db import Database
from aadsys.core.errors import DigestMismatch, FileNotFound, FileTooLarge
from aadsys.core.tables import FileRow


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    path: Path


class FileStore:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        self._tmp = root / ".incoming"

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def put(self, chunks: AsyncIterator[bytes], media_type: str, *, max_bytes: int,
                  expected_sha256: str | None = None) -> tuple[StoredFile, bool]:
        """Store a stream; returns the file and whether it was new."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(tmp_name)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            if expected_sha256 and expected_sha256.lower() != sha:
                raise DigestMismatch(expected_sha256.lower(), sha)
            return await anyio.to_thread.run_sync(self._commit, tmp, sha, size, media_type)
        finally:
            tmp.unlink(missing_ok=True)

    def _commit(self, tmp: Path, sha: str, size: int, media_type: str) -> tuple[StoredFile, bool]:
        final = self.path_of(sha)
        with self.db.write_session() as session:
            existing = session.get(FileRow, sha)
            if existing is not None:
                return self._stored(existing), False
            had_bytes = final.exists()
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            try:
                row = FileRow(sha256=sha, size=size, media_type=media_type)
                session.add(row)
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = session.get(FileRow, sha)
                if existing is None:
                    raise
                row = existing
                return self._stored(row), False
            except BaseException:
                if not had_bytes:
                    final.unlink(missing_ok=True)
                raise
        return self._stored(row), True

    def get(self, sha256: str) -> StoredFile:
        with self.db.session() as session:
            row = session.get(FileRow, sha256.lower())
        if row is None or not self.path_of(row.sha256).exists():
            raise FileNotFound(sha256)
        return self._stored(row)

    def read(self, sha256: str) -> tuple[bytes, str]:
        stored = self.get(sha256)
        return stored.path.read_bytes(), stored.media_type

    def _stored(self, row: FileRow) -> StoredFile:
        return StoredFile(row.sha256, row.size, row.media_type, self.path_of(row.sha256))
