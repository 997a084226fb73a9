"""The schema comes only from alembic: from empty to head, in step with the tables, and back down."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import aadsys.core.tables  # noqa: F401  (registers the tables)
from aadsys.core.db import alembic_config, migrate

TABLES = {"asset_types", "instances", "submodels", "files", "api_keys", "outbox", "inbox", "audit_log",
          "subscriptions", "history_jobs", "links"}


def test_migrations_build_the_tables_schema_from_empty_and_downgrade_removes_it(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                           SQLModel.metadata)
        assert differences == []
        command.downgrade(alembic_config(database_url), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_records_stored_before_the_connector_keep_their_content_and_become_own(database_url: str) -> None:
    """Migration 0002 carries existing instances: they become this AAdSys's own (origin '')."""
    migrate(database_url, "0001")
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO asset_types (slug, name, description, key_field, versioned, "
                                 "type_shell_id, type_environment, registered_at) VALUES ('sales-order', 'SO', '', "
                                 "'orderId', false, 'x', :env, CURRENT_TIMESTAMP)"), {"env": b"{}"})
            conn.execute(sa.text("INSERT INTO instances (asset_type, instance_key, revision, is_latest, created_at, "
                                 "sha256, shell_id, aas_json) VALUES ('sales-order', 'SO-1', 1, true, "
                                 "CURRENT_TIMESTAMP, 'abc', 'shell', :j)"), {"j": b"{}"})
        migrate(database_url)
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT origin, instance_key, aas_json FROM instances")).one()
        assert (row.origin, row.instance_key, bytes(row.aas_json)) == ("", "SO-1", b"{}")
    finally:
        engine.dispose()
