"""connector exchange: received records keyed per origin, outbox seq, subscriptions, history jobs, links

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
    op.create_table('history_jobs',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('range_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('range_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=True),
    sa.Column('digest', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subscription_id')
    )
    op.create_table('subscriptions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('asset_id', sa.String(length=128), nullable=False),
    sa.Column('asset_type', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('peer_org_id', sa.String(length=64), nullable=False),
    sa.Column('peer_name', sa.String(length=200), nullable=False),
    sa.Column('peer_endpoint', sa.String(length=2000), nullable=True),
    sa.Column('peer_signing_key', sa.String(length=64), nullable=True),
    sa.Column('peer_encryption_key', sa.String(length=64), nullable=True),
    sa.Column('provider_owner', sa.String(length=64), nullable=True),
    sa.Column('provider_base_iri', sa.String(length=2000), nullable=True),
    sa.Column('grant', sa.Text(), nullable=True),
    sa.Column('grant_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transfer_id', sa.String(length=64), nullable=True),
    sa.Column('reported', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_state'), ['state'], unique=False)

    op.create_table('links',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('consumer_signing_key', sa.String(length=64), nullable=False),
    sa.Column('consumer_encryption_key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('header', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index('ix_links_subscription_seq', ['subscription_id', 'seq'], unique=False)

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

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=False))
        batch_op.drop_index(batch_op.f('ix_outbox_state'))
        batch_op.create_index('ix_outbox_state_expires', ['state', 'expires_at'], unique=False)
        batch_op.create_index('ix_outbox_subscription_state_seq', ['subscription_id', 'state', 'seq'], unique=False)
        batch_op.create_unique_constraint('uq_outbox_subscription_seq', ['subscription_id', 'seq'])



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('uq_outbox_subscription_seq', type_='unique')
        batch_op.drop_index('ix_outbox_subscription_state_seq')
        batch_op.drop_index('ix_outbox_state_expires')
        batch_op.create_index(batch_op.f('ix_outbox_state'), ['state', 'subscription_id'], unique=False)
        batch_op.drop_column('seq')

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

    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_subscription_seq')

    op.drop_table('links')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_state'))

    op.drop_table('subscriptions')
    op.drop_table('history_jobs')
