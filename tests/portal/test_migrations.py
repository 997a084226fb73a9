"""The portal's schema comes only from alembic: from empty to head, in step with the models, and back down."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from abm_portal.db import alembic_config, migrate
from abm_portal.models import PortalTable

TABLES = {"organisations", "users", "client_secrets", "personal_tokens", "signing_keys", "assets", "subscriptions",
          "transfer_jobs", "subscription_progress", "revocations", "audit_entries", "auth_throttles",
          "portal_secrets"}


def test_migrations_build_the_models_schema_from_empty_and_downgrade_removes_it(database_url: str) -> None:
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                           PortalTable.metadata)
        assert differences == []
        command.downgrade(alembic_config(database_url), "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
