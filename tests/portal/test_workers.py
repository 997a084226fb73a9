"""What N portal workers on one database rely on, one piece at a time: SQLite refuses several workers; what every
worker makes on first use is made once however many try at the same moment; throttling counts lose nothing
under concurrent failures; ``/readyz`` tells when the database is gone or its schema is behind, and recovers
with it. The whole portal on two processes behind nginx is ``test_cluster.py``.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from alembic import command
from sqlmodel import Session, delete, func, select
from typer.testing import CliRunner

from abm_portal.app import create_app
from abm_portal.cli import app as cli
from abm_portal.cli import prepare
from abm_portal.config import Settings
from abm_portal.db import Database, alembic_config, migrate
from abm_portal.models import AuthThrottle, PortalSecret, SigningKey
from abm_portal.readiness import schema_heads
from abm_portal.services import session_key, signing_keys, throttle
from tests.support.live_server import live_server, loopback_get
from tests.support.postgres import PostgresServer

T = TypeVar("T")
AT_ONCE = 4


def _kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _at_the_same_moment(database: Database, work: Callable[[Session], T]) -> list[T]:
    """``work(db)`` in AT_ONCE threads, each on its own connection, released together."""
    gate = threading.Barrier(AT_ONCE)

    def run(_: int) -> T:
        with database.session() as db:
            gate.wait()
            return work(db)

    with ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(run, range(AT_ONCE)))


@pytest.fixture
def migrated(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[tuple[Settings, Database]]:
    """A migrated PostgreSQL portal database with neither signing key nor session key yet."""
    settings = Settings(data_dir=tmp_path, database_url=postgres_server.create_database("workers"), kek=_kek())  # type: ignore[arg-type]
    migrate(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    try:
        yield settings, database
    finally:
        database.dispose()


def test_two_workers_on_sqlite_are_refused_with_what_to_do(tmp_path: Path) -> None:
    answer = CliRunner().invoke(cli, ["serve", "--workers", "2", "--data-dir", str(tmp_path)])
    assert answer.exit_code == 2
    assert "needs PostgreSQL" in answer.output and "ABM_PORTAL_DATABASE_URL" in answer.output
    assert not (tmp_path / "portal.db").exists()  # refused before anything was made


def test_workers_that_find_no_signing_key_at_the_same_moment_make_one(migrated: tuple[Settings, Database]) -> None:
    settings, database = migrated
    kids = _at_the_same_moment(database, lambda db: signing_keys.current_key(db, settings).kid)
    assert len(set(kids)) == 1
    with database.session() as db:
        assert db.exec(select(func.count()).select_from(SigningKey)).one() == 1


def test_workers_that_find_no_session_key_at_the_same_moment_make_one(migrated: tuple[Settings, Database]) -> None:
    settings, database = migrated
    keys = _at_the_same_moment(database, lambda db: session_key.session_key(db, settings))
    assert len(set(keys)) == 1
    with database.session() as db:
        stored = db.exec(select(PortalSecret)).all()
    assert len(stored) == 1 and keys[0] not in stored[0].sealed_value  # sealed, never stored as it is


def test_a_data_directory_from_before_keeps_its_session_key(migrated: tuple[Settings, Database]) -> None:
    settings, database = migrated
    (settings.data_dir / session_key.LEGACY_FILE_NAME).write_text("the key sessions were signed with\n")
    with database.session() as db:
        assert session_key.session_key(db, settings) == "the key sessions were signed with"


def test_concurrent_failures_from_several_workers_are_each_counted(migrated: tuple[Settings, Database]) -> None:
    settings, database = migrated
    settings = settings.model_copy(update={"auth_lockout_failures": 1000, "auth_address_lockout_failures": 1000,
                                           "auth_free_failures": 999, "auth_address_free_failures": 999})
    keys = throttle.login_keys("someone@x.example", "192.0.2.1")

    def fail_five_times(db: Session) -> None:
        for _ in range(5):
            throttle.record_failure(db, settings, keys)

    _at_the_same_moment(database, fail_five_times)
    with database.session() as db:
        counted = {row.scope: row.failures for row in db.exec(select(AuthThrottle)).all()}
        db.exec(delete(AuthThrottle))  # type: ignore[call-overload]
        db.commit()
    assert counted == {throttle.ACCOUNT: 5 * AT_ONCE, throttle.ADDRESS: 5 * AT_ONCE}


@pytest.fixture(scope="module")
def ready_portal(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[
        tuple[str, str, PostgresServer]]:
    """A portal on a PostgreSQL database of its own: its URL, the database's name, and the server."""
    url = postgres_server.create_database("ready")
    settings = Settings(data_dir=tmp_path_factory.mktemp("ready"), database_url=url, kek=_kek())  # type: ignore[arg-type]
    prepare(settings)
    with live_server(create_app(settings)) as base:
        yield base, url.rsplit("/", 1)[1], postgres_server


def _readiness(base: str) -> httpx.Response:
    return loopback_get(f"{base}/readyz", timeout=15)


def test_readyz_fails_while_the_database_refuses_connections_and_recovers_with_it(
        ready_portal: tuple[str, str, PostgresServer]) -> None:
    base, name, server = ready_portal
    assert _readiness(base).json() == {"status": "ready",
                                       "checks": {"database": "ok", "migrations": ",".join(schema_heads())}}
    server.psql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        refused = _readiness(base)
        assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["checks"]["database"] == "unreachable"
        assert "does not answer" in problem["detail"] and "database_url" in problem["detail"]
        assert loopback_get(f"{base}/healthz").status_code == 200  # alive all the same: no restart wanted
    finally:
        server.psql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert _readiness(base).status_code == 200


def test_readyz_fails_while_the_schema_is_behind_the_code(ready_portal: tuple[str, str, PostgresServer]) -> None:
    base, name, server = ready_portal
    url = server.url(name)
    head = schema_heads()[0]
    previous = f"{int(head) - 1:04d}"
    command.downgrade(alembic_config(url), previous)
    try:
        behind = _readiness(base)
        assert behind.status_code == 503
        assert behind.json()["checks"] == {"database": "ok", "migrations": previous}
        assert f"at revision {previous}, behind the {head}" in behind.json()["detail"]
        assert "abm-portal init" in behind.json()["detail"]
    finally:
        migrate(url)
    assert _readiness(base).status_code == 200
