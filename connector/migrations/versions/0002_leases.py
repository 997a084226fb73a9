"""leases: which worker runs which subscription's flow or reception, with a fencing epoch

Revision ID: connector_0002
Revises: connector_0001
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = 'connector_0002'
down_revision = 'connector_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=True),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('wanted_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('subject', 'role')
    )
    with op.batch_alter_table('leases', schema=None) as batch_op:
        batch_op.create_index('ix_leases_holder', ['holder'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('leases', schema=None) as batch_op:
        batch_op.drop_index('ix_leases_holder')
    op.drop_table('leases')
