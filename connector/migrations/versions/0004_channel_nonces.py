"""channel nonces: a challenge's nonce kept in the database, so that any worker of the provider takes it

Revision ID: connector_0004
Revises: connector_0002
Create Date: 2026-12-09
"""
import sqlalchemy as sa
from alembic import op

revision = 'connector_0004'
down_revision = 'connector_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_nonces',
    sa.Column('nonce_sha256', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce_sha256')
    )
    with op.batch_alter_table('channel_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_nonces_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('channel_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_nonces_expires_at'))
    op.drop_table('channel_nonces')
