"""initial schema: orders (with their outbox state), label images, status revisions, stream positions

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "label_images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _when("placed_at"),
        sa.Column("customer_name", sa.String(80), nullable=False),
        sa.Column("bottle_size_ml", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.String(16), nullable=False),
        sa.Column("total", sa.String(16), nullable=False),
        sa.Column("ingredients", sa.JSON(), nullable=False),
        sa.Column("label_text", sa.String(120), nullable=True),
        sa.Column("label_sha256", sa.String(64), sa.ForeignKey("label_images.sha256"), nullable=True),
        sa.Column("sales_order_json", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False, index=True),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("sent_at", nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("status_revision", sa.Integer(), nullable=True),
        sa.Column("current_station", sa.String(32), nullable=True),
        sa.Column("rfid_tag", sa.String(64), nullable=True),
        sa.Column("status_updated_at", sa.String(40), nullable=True),
        sa.Column("trace", sa.JSON(), nullable=False),
    )
    op.create_table(
        "status_revisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), nullable=False, index=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("current_station", sa.String(32), nullable=True),
        _when("received_at"),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.UniqueConstraint("order_id", "revision", name="uq_status_revisions_order_revision"),
    )
    op.create_table(
        "stream_positions",
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        _when("updated_at"),
    )


def downgrade() -> None:
    op.drop_table("stream_positions")
    op.drop_table("status_revisions")
    op.drop_table("orders")
    op.drop_table("label_images")
