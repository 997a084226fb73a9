"""instance indexes that lead with the asset type and end in the seq: followers read "after seq N" in O(log n)

The commit follower of a real-time subscription asks for (asset type, own, id > watermark) and the event
stream for (asset type, id > seq). Without these, SQLite answered both from the createdAt index: a scan of
every record of the type and a sort, on every commit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_instances_type_origin_id', 'instances', ['asset_type', 'origin', 'id'], unique=False)
    op.create_index('ix_instances_type_id', 'instances', ['asset_type', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_instances_type_id', table_name='instances')
    op.drop_index('ix_instances_type_origin_id', table_name='instances')
