"""The PostgreSQL pool pings a connection only after it has idled, and still hands out no dead one.

An idle worker's every round trip counts (an idle company costs at most one database query a second per
worker): pinging at every checkout, as ``pool_pre_ping`` does, doubled them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from aadsys.core import db as db_module
from aadsys.core.db import make_engine
from tests.support.postgres import PostgresServer

IDLE = 0.3  # the test's threshold, for PING_AFTER_IDLE_SECONDS


@pytest.fixture
def engine(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[Any]]]:
    """An AAdSys engine on a fresh PostgreSQL database, and the connections it pinged, in order."""
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", IDLE)
    made = make_engine(postgres_server.create_database())
    pinged: list[Any] = []
    do_ping = made.dialect.do_ping

    def counted(dbapi: Any) -> bool:
        pinged.append(dbapi)
        return do_ping(dbapi)

    monkeypatch.setattr(made.dialect, "do_ping", counted)
    try:
        yield made, pinged
    finally:
        made.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_in_steady_use_is_not_pinged_and_one_that_idled_is(engine: tuple[Engine, list[Any]]) -> None:
    made, pinged = engine
    pids = {_backend_pid(made) for _ in range(20)}  # one after another, as an idle worker's rounds and renewals

    assert len(pids) == 1 and pinged == []  # LIFO: the same connection each time, fresh or just returned

    time.sleep(IDLE + 0.2)
    assert _backend_pid(made) in pids and len(pinged) == 1


def test_a_connection_that_died_while_idle_is_replaced_before_anyone_uses_it(
        engine: tuple[Engine, list[Any]], postgres_server: PostgresServer) -> None:
    made, pinged = engine
    first = _backend_pid(made)
    admin = make_engine(postgres_server.url())
    with admin.connect() as connection:  # as when the database restarted, or a firewall cut an idle connection
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    admin.dispose()
    time.sleep(IDLE + 0.2)

    second = _backend_pid(made)  # no error: the ping found it dead and the pool connected afresh

    assert second != first and len(pinged) == 1
