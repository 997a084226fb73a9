"""asset id lookup indexes: discovery finds shells by SpecificAssetId or globalAssetId in O(log n)

Discovery (``GET /lookup/shells?assetIds=``) and the repository's ``assetIds`` filter ask for the latest shells
whose instance key (the value of a SpecificAssetId such as orderId) or globalAssetId is a given value, in storage
order. Without these indexes each such read scanned every instance. Each index ends in the id, so a page of
matches is read in order, by keyset, however many records the store holds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_instances_key_id', 'instances', ['instance_key', 'id'], unique=False)
    op.create_index('ix_instances_global_asset_id_id', 'instances', ['global_asset_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_instances_global_asset_id_id', table_name='instances')
    op.drop_index('ix_instances_key_id', table_name='instances')
