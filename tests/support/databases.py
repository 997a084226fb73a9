"""Migrated AAdSys databases for tests, made once per session and copied per test.

Running the migrations costs about 0.7 s per database; a test needs a fresh database, not a fresh migration.
So the first test that asks for an organisation's database runs ``aadsys.cli.prepare`` (the migrations of the core
and every installed extension, and the asset types) into a template, and every test gets a copy: a file copy
on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL. The migrations themselves are tested from empty in
``tests/aadsys/test_migrations.py``.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from aadsys.cli import prepare
from aadsys.config import Settings
from tests.support.postgres import PostgresServer

_lock = threading.Lock()


class AadsysTemplates:
    def __init__(self, root: Path, postgres: Callable[[], PostgresServer]) -> None:
        self.root, self.postgres = root, postgres  # the server is started only when a test asks for one
        self._sqlite: dict[tuple[str, str], Path] = {}
        self._postgres: dict[tuple[str, str], str] = {}

    def settings(self, data_dir: Path, org: str, base_iri: str, *, postgresql: bool = False,
                 **more: object) -> Settings:
        """Settings of an AAdSys in ``data_dir`` whose database is a fresh copy of the migrated template."""
        data_dir.mkdir(parents=True, exist_ok=True)
        if postgresql:
            url = self._postgres_copy(org, base_iri)
        else:
            target = data_dir / "aadsys.db"
            shutil.copyfile(self._sqlite_template(org, base_iri), target)
            url = f"sqlite:///{target}"
        return Settings(data_dir=data_dir, org=org, base_iri=base_iri, database_url=url, **more)  # type: ignore[arg-type]

    def _sqlite_template(self, org: str, base_iri: str) -> Path:
        with _lock:
            found = self._sqlite.get((org, base_iri))
            if found is None:
                folder = self.root / f"sqlite-{org}-{uuid.uuid4().hex[:6]}"
                path = folder / "template.db"
                prepare(Settings(data_dir=folder, org=org, base_iri=base_iri, database_url=f"sqlite:///{path}"))
                for leftover in ("-wal", "-shm"):  # the last connection closed: WAL checkpointed into the file
                    assert not Path(f"{path}{leftover}").exists() or Path(f"{path}{leftover}").stat().st_size == 0
                found = self._sqlite[(org, base_iri)] = path
            return found

    def _postgres_copy(self, org: str, base_iri: str) -> str:
        server = self.postgres()
        with _lock:
            template = self._postgres.get((org, base_iri))
            if template is None:
                url = server.create_database(f"tpl_{org}")
                prepare(Settings(data_dir=self.root / f"pg-{org}", org=org, base_iri=base_iri, database_url=url))
                template = self._postgres[(org, base_iri)] = url.rsplit("/", 1)[1]
            name = f"t_{org}_{uuid.uuid4().hex[:12]}"
            server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return server.url(name)
