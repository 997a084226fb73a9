"""revoked here: a subscription its provider revoked on its own side, and when the portal accepted it

``aadsys connector revoke`` ends a subscription in this connector first; the control plane then tells the portal,
every round until it accepts. ``revoked_here_at`` without ``revocation_told_at`` is that debt.

Revision ID: connector_0003
Revises: connector_0002
Create Date: 2026-12-14
"""
import sqlalchemy as sa
from alembic import op

revision = 'connector_0003'
down_revision = 'connector_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table adopted by connector_0001 may have been made from today's model (tests do): add what is missing.
    present = {c['name'] for c in sa.inspect(op.get_bind()).get_columns('subscriptions')}
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        for name in ('revoked_here_at', 'revocation_told_at'):
            if name not in present:
                batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('revocation_told_at')
        batch_op.drop_column('revoked_here_at')
