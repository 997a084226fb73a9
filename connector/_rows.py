"""Plain SQL reads for what operators look at (``aadsys connector status|transfers``), without the ORM.

Importing SQLModel and the table classes costs about a second, and these views need a handful of SELECTs. One
SQL text (named parameters, ``:name``) runs on either of two ``Rows``: on a SQLite file through the standard
library's ``sqlite3``, opened read-only, and on any other database (PostgreSQL) through SQLAlchemy Core. Values
come back as the driver gives them (SQLite: times and JSON as text); ``moment`` and ``document`` make them alike.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

SQLITE_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


class Rows(Protocol):
    def all(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        """Every row of one SELECT."""


class MissingTable(Exception):
    """The database lacks a table the read needs: the AAdSys was never migrated (``aadsys init``)."""


class SqliteRows:
    def __init__(self, path: Path) -> None:
        self.path = path
        # read-only: looking must not make a database where there was none, nor take SQLite's write lock
        self._connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)

    def all(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in self._connection.execute(sql, dict(params or {})).fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise MissingTable(str(exc)) from None
            raise

    def close(self) -> None:
        self._connection.close()


class EngineRows:
    """Over an engine the caller owns (the running AAdSys's, or one made for a command)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import text
        from sqlalchemy.exc import ProgrammingError

        try:
            with self.engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql), dict(params or {})).all()]
        except ProgrammingError as exc:  # PostgreSQL: relation "…" does not exist
            if "does not exist" in str(exc.orig):
                raise MissingTable(str(exc.orig).splitlines()[0]) from None
            raise

    def close(self) -> None:
        self.engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file of a plain SQLite URL (``sqlite:///data/aadsys.db``, ``sqlite:////abs/aadsys.db``); None for any
    other database, or a SQLite URL with options (SQLAlchemy then reads it)."""
    for prefix in SQLITE_PREFIXES:
        if url.startswith(prefix) and "?" not in url and url != prefix + ":memory:":
            return Path(url.removeprefix(prefix))
    return None


def open_rows(url: str) -> SqliteRows | EngineRows:
    """Reads of the database at ``url``; ``FileNotFoundError`` when a SQLite file is not there."""
    path = sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(path)
        return SqliteRows(path)
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return EngineRows(create_engine(url, poolclass=NullPool))


def moment(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware datetime: SQLite hands back text, and no driver a zone (stored times are UTC)."""
    if value is None:
        return None
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def document(value: dict[str, Any] | str | None) -> dict[str, Any]:
    """A stored JSON object: PostgreSQL's driver decodes it, SQLite hands back its text."""
    if value is None:
        return {}
    found = json.loads(value) if isinstance(value, str) else value
    return found if isinstance(found, dict) else {}


class ConnectionRows:
    """Over one connection the caller holds open: several reads in one transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def all(self, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        return [tuple(row) for row in self.connection.execute(text(sql), dict(params or {})).all()]
