"""the connector's tables: outbox, subscriptions, history jobs, one-time links

The first revision of the connector's own branch (label ``connector``). Databases made before the connector
owned its schema already hold these four tables, made by the core's first revisions with exactly this shape:
they are adopted as they are, and only missing ones are created.

Revision ID: connector_0001
Revises:
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = 'connector_0001'
down_revision = None
branch_labels = ('connector',)
depends_on = '0005'


def _missing(name: str) -> bool:
    return name not in sa.inspect(op.get_bind()).get_table_names()


def upgrade() -> None:
    if _missing('outbox'):
        op.create_table('outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('stored_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription_id', 'instance_id', name='uq_outbox_subscription_instance'),
        sa.UniqueConstraint('subscription_id', 'seq', name='uq_outbox_subscription_seq')
        )
        with op.batch_alter_table('outbox', schema=None) as batch_op:
            batch_op.create_index('ix_outbox_state_expires', ['state', 'expires_at'], unique=False)
            batch_op.create_index('ix_outbox_subscription_state_seq', ['subscription_id', 'state', 'seq'],
                                  unique=False)

    if _missing('history_jobs'):
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

    if _missing('subscriptions'):
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

    if _missing('links'):
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


def downgrade() -> None:
    op.drop_table('links')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_state'))
    op.drop_table('subscriptions')
    op.drop_table('history_jobs')
    op.drop_table('outbox')
