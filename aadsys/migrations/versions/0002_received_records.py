"""received records keyed per origin (the connector's own tables are its alembic branch, connector/migrations)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_subscription_seq', ['subscription_id', 'seq'], unique=False)

    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('subscription_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('received_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f('ix_instances_type_created'))
        batch_op.drop_constraint(batch_op.f('uq_instances_type_key_revision'), type_='unique')
        batch_op.create_index('ix_instances_type_origin_created', ['asset_type', 'origin', 'created_at', 'id'],
                              unique=False)
        batch_op.create_unique_constraint('uq_instances_origin_type_key_rev',
                                          ['origin', 'asset_type', 'instance_key', 'revision'])


def downgrade() -> None:
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_constraint('uq_instances_origin_type_key_rev', type_='unique')
        batch_op.drop_index('ix_instances_type_origin_created')
        batch_op.create_unique_constraint(batch_op.f('uq_instances_type_key_revision'),
                                          ['asset_type', 'instance_key', 'revision'])
        batch_op.create_index(batch_op.f('ix_instances_type_created'), ['asset_type', 'created_at', 'id'], unique=False)
        batch_op.drop_column('received_at')
        batch_op.drop_column('subscription_id')
        batch_op.drop_column('origin')

    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_subscription_seq')
