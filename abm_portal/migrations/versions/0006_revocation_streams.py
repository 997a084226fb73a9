"""revocation streams: the open GET /api/v1/revocations/stream of each organisation, across workers

Each open stream has a row, renewed by the worker that serves it; an organisation may hold a few at a time
(``abm_portal.services.revocation_stream``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocation_streams",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_revocation_streams_org_id", "revocation_streams", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_revocation_streams_org_id", table_name="revocation_streams")
    op.drop_table("revocation_streams")
