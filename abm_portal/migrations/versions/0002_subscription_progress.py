"""subscription progress: each side's latest cumulative figures for a real-time subscription

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_progress",
        sa.Column("subscription_id", sa.String(36), sa.ForeignKey("subscriptions.id"), primary_key=True),
        sa.Column("side", sa.String(16), primary_key=True),
        # up to 10**12 (abm_portal.services.progress.MAX_FIGURE): beyond a 32-bit integer
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription_progress")
