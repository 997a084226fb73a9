"""Engines, sessions and migrations of one AAdSys database (SQLite WAL by default, PostgreSQL by URL)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import ClauseElement, Connection, Engine, Executable, Row, create_engine, event, exc, text
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlmodel import Session

P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"  # shipped in the wheel with the package
# A pooled PostgreSQL connection unused this long is pinged before it is handed out (HikariCP's rule, not
# SQLAlchemy's pool_pre_ping, which pings at every checkout: an idle worker's round trips doubled).
PING_AFTER_IDLE_SECONDS = 30.0


def make_engine(url: str, *, immediate: bool = False, **kwargs: Any) -> Engine:
    """An engine; on SQLite, ``immediate=True`` makes every transaction take the write lock up front.

    A deferred SQLite transaction that reads and then writes fails at once with SQLITE_BUSY when
    another writer committed in between (WAL snapshot upgrade); BEGIN IMMEDIATE waits its turn instead.
    """
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 30}
        if immediate:
            connect_args["isolation_level"] = None
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if immediate:
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if kwargs.get("poolclass") is NullPool:
        return create_engine(url, **kwargs)
    # LIFO: light work keeps reusing one connection, so it stays recent and unpinged, and the others can idle
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_use_lifo=True, **kwargs)
    ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def ping_when_idle(engine: Engine, after_seconds: float) -> None:
    """Ping a pooled connection at checkout only when it was returned more than ``after_seconds`` ago; when it is
    dead, every connection pooled before it is dropped and the pool connects afresh before anyone sees it (as
    pool_pre_ping does). A database that goes away while a connection is in recent use fails that one operation:
    the driver's error then invalidates the whole pool, so the next checkout connects afresh, and every loop here
    retries after an error."""

    def returned(_dbapi: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")  # none for a new connection: it has just answered
        if returned_at is not None and time.monotonic() - returned_at > after_seconds:
            try:
                engine.dialect.do_ping(dbapi)
            except Exception as error:
                raise exc.InvalidatePoolError(f"a pooled connection did not answer a ping: {error}") from error

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checked_out)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable across process crashes in WAL mode.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def alembic_config(url: str, branches: Sequence[Path] = ()) -> Config:
    """The AAdSys's alembic environment, with the version folders of installed extensions' branches (each an
    alembic branch of its own, e.g. the connector's tables) beside the core's."""
    from alembic.config import Config  # alembic costs a second to import; most commands never migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in (MIGRATIONS_DIR / "versions",
                                                                                *branches)))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads", branches: Sequence[Path] = ()) -> None:
    """Bring the schema to ``revision`` (every branch's head by default); the only way tables come to exist."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url, branches), revision)


@lru_cache(maxsize=8)
def schema_heads(branches: tuple[Path, ...] = ()) -> frozenset[str]:
    """The revisions a database migrated by this code is at: the heads of the core's and the branches' migrations."""
    from alembic.script import ScriptDirectory  # a second of imports, paid once

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://", branches)).get_heads())


def schema_current(db: Database, branches: tuple[Path, ...] = (), known: tuple[Path, ...] = ()) -> bool:
    """Whether the database's schema is where this code expects it (readiness: not behind, not ahead).

    Every head of the core and of ``branches`` (the running app's extensions) must be there; other revisions
    may be only the heads of ``known`` branches (an extension installed here that this app does not run, whose
    tables the shared database holds).
    """
    from sqlalchemy import inspect

    with db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        found = frozenset(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    wanted = schema_heads(branches)
    return wanted <= found <= wanted | schema_heads(tuple(dict.fromkeys((*branches, *known))))


class Database:
    """The engine plus a session factory; one per process and AAdSys."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        sqlite = url.startswith("sqlite")
        self._writer = make_engine(url, immediate=True) if sqlite else self.engine
        # SQLite has one writer at a time. Threads of this process queue for it here, in order; left to BEGIN
        # IMMEDIATE, each loser sleeps in SQLite's busy handler and polls, which under load took a fifth of
        # the time of a connector's provider (py-spy). Other processes still meet the busy handler.
        self._write_turn: AbstractContextManager[Any] = threading.RLock() if sqlite else nullcontext()
        self._reader = make_engine(url, poolclass=NullPool)
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self._on_dispose: list[Callable[[], None]] = []
        self._compiled: dict[ClauseElement, tuple[str, Sequence[str] | None, dict[str, Any]]] = {}

    @contextmanager
    def session(self) -> Iterator[Session]:
        """For reads, and for writes that do not read first."""
        from sqlmodel import Session  # the ORM costs a second to import; plain reads (``fetch_all``) do without

        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """For read-then-write transactions: serialised up front on SQLite, plain on PostgreSQL."""
        from sqlmodel import Session

        with self._write_turn, Session(self._writer, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def joined(self, session: Session | None) -> Iterator[Session]:
        """The caller's ``session`` as it is (the caller commits), or a write session of its own, committed on the
        way out: for steps that run alone or as part of a caller's transaction."""
        if session is not None:
            yield session
            return
        with self.write_session() as own:
            yield own
            own.commit()

    # -- the read path ---------------------------------------------------------------------------
    def fetch_one(self, statement: Executable, params: Mapping[str, Any]) -> Row[Any] | None:
        """The first row of a read statement built once (SQLAlchemy Core), or None."""
        return self._connection().execute(statement, params).first()

    def fetch_all(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
        return self._connection().execute(statement, params).all()

    def lookup(self, statement: ClauseElement, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a read whose columns need no type conversion (bytes, text, integers), as the driver
        returns it: compiled once for this database, then run on the driver's connection. For the reads polled
        most, where SQLAlchemy's work per execute costs three times SQLite's own (21 us a lookup against 6 us)."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            form = statement.compile(dialect=self._reader.dialect, compile_kwargs={"render_postcompile": True})
            assert isinstance(form, SQLCompiler)
            compiled = self._compiled[statement] = (str(form), form.positiontup, dict(form.params))
        sql, order, defaults = compiled
        values = {**defaults, **params}
        bound = tuple(values[name] for name in order) if order is not None else values
        driver = self._connection().connection.driver_connection
        assert driver is not None  # a checked-out pool connection always has one
        cursor = driver.execute(sql, bound)
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()  # an open statement would hold SQLite's read snapshot
        return None if row is None else tuple(row)

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read from async code: on the event loop for SQLite, where one indexed lookup costs microseconds
        and a hop to a worker thread costs more than the read; on a worker thread for a networked database."""
        if self.is_postgres:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        return fn(*args, **kwargs)

    def _connection(self) -> Connection:
        # One connection per thread, kept open, in autocommit: each read sees every commit made before it, with
        # no pool checkout and no session (measured: 21 us a lookup, against 35 us through a pooled session).
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._reader.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def reachable(self) -> bool:
        """Whether the database answers a trivial query now (readiness); raises nothing."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def on_dispose(self, fn: Callable[[], None]) -> None:
        self._on_dispose.append(fn)

    def dispose(self) -> None:
        for fn in self._on_dispose:
            fn()
        self.engine.dispose()
        self._writer.dispose()
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
