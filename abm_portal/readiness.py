"""Readiness of one portal worker (``GET /readyz``): whether it can do its work now, not only whether it runs.

Ready means: the database answers, and its schema is at the revision this code was written for (alembic's
head). A worker whose database went away is alive (``/healthz``) but not ready; it becomes ready again when
the database is back, with no restart. A schema behind the code (a restore of an old backup, a downgrade) or
ahead of it (another host upgraded first, this one runs the older release) is not ready either: the two
disagree about the tables, so requests would fail half-way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from abm_portal.db import MIGRATIONS_DIR, Database

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

log = logging.getLogger("abm_portal.readiness")
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Readiness:
    """``checks`` names each check and what it found; ``problems`` says, per failed check, what to fix."""

    checks: dict[str, str]
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


def readiness(database: Database) -> Readiness:
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            found = (sorted(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
                     if inspect(conn).has_table(VERSION_TABLE) else [])
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("not ready: the database does not answer: %s", reason)
        return Readiness({"database": "unreachable", "migrations": "unknown"},
                         [f"The database does not answer ({reason}); check that it runs and that database_url "
                          "(ABM_PORTAL_DATABASE_URL) points at it."])
    expected = list(schema_heads())
    checks = {"database": "ok", "migrations": ",".join(found) or "none"}
    if found == expected:
        return Readiness(checks)
    return Readiness(checks, [_schema_problem(found, expected)])


def _schema_problem(found: Sequence[str], expected: Sequence[str]) -> str:
    want = ", ".join(expected)
    if not found:
        return (f"The database has no portal schema; this portal needs revision {want}: run 'abm-portal init' "
                "(or start 'abm-portal serve', which migrates).")
    known = set(_all_revisions())
    if set(found) <= known:
        return (f"The database schema is at revision {', '.join(found)}, behind the {want} this portal needs: "
                "run 'abm-portal init' or restart 'abm-portal serve' (each migrates to head).")
    return (f"The database schema is at revision {', '.join(found)}, which this portal does not know (it needs "
            f"{want}): another host runs a newer release; upgrade this one to it.")


@lru_cache(maxsize=1)
def schema_heads() -> tuple[str, ...]:
    """The revisions a migrated database is at (alembic's heads), read once from the shipped migrations."""
    return tuple(sorted(_scripts().get_heads()))


@lru_cache(maxsize=1)
def _all_revisions() -> tuple[str, ...]:
    return tuple(script.revision for script in _scripts().walk_revisions())


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # a second of imports, paid at the first /readyz only

    return ScriptDirectory(str(MIGRATIONS_DIR))
