"""Engines, sessions and migrations of the portal database (SQLite WAL by default, PostgreSQL by URL).

Every session of the portal is a read-then-write unit of work: a service reads rows, checks rules and
changes them. On SQLite each transaction therefore takes the write lock up front (BEGIN IMMEDIATE): a
deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another writer
committed in between, where an immediate one waits its turn. The portal is light on traffic, so
serialising its transactions on SQLite costs little; PostgreSQL serves larger installations (DESIGN §10)
and the services lock the rows they change there (``SELECT … FOR UPDATE``).

N workers or hosts share one PostgreSQL database (DESIGN §10). What must happen once although every worker may
try it at the same moment (migrations at start, the first signing key, the session key) runs under a PostgreSQL
advisory lock named after its purpose (``one_at_a_time``, ``exclusive``); SQLite needs none, as it serves one
process and each of its transactions holds the write lock.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, NullPool, event, text
from sqlmodel import Session, create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"  # shipped in the wheel with the package
POOL_SIZE, POOL_OVERFLOW = 10, 20
CONNECT_TIMEOUT_SECONDS = 5
# ``Session.info`` key: what runs after a commit that wrote a revocation (``services.revocations.written``)
AFTER_REVOCATION = "after_revocation"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30,
                                                  "isolation_level": None}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # A PostgreSQL that does not answer costs a request (and /readyz) at most CONNECT_TIMEOUT_SECONDS, not a TCP
    # timeout of minutes. Connections per process: POOL_SIZE kept, POOL_OVERFLOW more under load (deploy/README.md).
    return create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_pre_ping=True,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable across process crashes in WAL mode.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # a second of imports that only migrations need

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``: the only way the portal's tables come to exist."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _lock_id(purpose: str) -> int:
    """A stable 32-bit advisory lock id per purpose (the same in every process, unlike ``hash``)."""
    return zlib.crc32(f"abm_portal:{purpose}".encode())


def one_at_a_time(db: Session, purpose: str) -> None:
    """Until ``db``'s transaction ends, no other transaction of any worker gets past this for ``purpose``
    (``pg_advisory_xact_lock``); a caller re-reads after it, then makes what is still missing."""
    if db.get_bind().dialect.name == "postgresql":
        db.exec(text("SELECT pg_advisory_xact_lock(:id)").bindparams(id=_lock_id(purpose)))  # type: ignore[call-overload]


@contextmanager
def exclusive(url: str, purpose: str) -> Iterator[None]:
    """The block runs in one process at a time over the database at ``url`` (``pg_advisory_lock`` held on a
    connection of its own, so it spans the block's own transactions and alembic's); nothing on SQLite."""
    if is_sqlite(url):
        yield
        return
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _lock_id(purpose)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _lock_id(purpose)})
                conn.commit()
    finally:
        engine.dispose()


class Database:
    """The engine plus a session factory; one per portal process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # run after a commit that wrote a revocation (``services.revocations.written``): the streams wake
        self.after_revocation: list[Callable[[], None]] = []

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work; the services commit what they change, anything left open is rolled back."""
        with Session(self.engine, expire_on_commit=False,
                     info={AFTER_REVOCATION: self.after_revocation}) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
