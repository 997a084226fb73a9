"""portal secrets: the web session key in the database, sealed with the key-encryption key

Every worker and host of one portal signs and checks session cookies with the same key, so it lives in the
shared database rather than in a data directory (``abm_portal.services.session_key``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("sealed_value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("portal_secrets")
