"""The line's schema comes only from alembic: from empty to head, in step with the models, and back down; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from omis_line.db import alembic_config, migrate
from omis_line.models import LineTable

TABLES = {"follower_positions", "sales_orders", "production_orders", "label_images", "bottles", "trace_events",
          "status_revisions"}


def test_migrations_build_the_models_schema_from_empty_and_downgrade_removes_it(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)  # a no-op when current, as every 'serve' start does
    engine = sa.create_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                           LineTable.metadata)
        assert differences == []
        command.downgrade(alembic_config(database_url), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
