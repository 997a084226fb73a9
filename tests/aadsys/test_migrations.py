"""The schema comes only from alembic; the migrations reach head and go back down cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from aadsys.core.db import alembic_config, migrate


def test_migrations_create_every_table_and_downgrade_removes_them(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"asset_types", "instances", "submodels", "files", "api_keys", "outbox", "inbox", "audit_log"} <= tables
    command.downgrade(alembic_config(database_url), "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
