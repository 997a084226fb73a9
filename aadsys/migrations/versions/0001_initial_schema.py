"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('asset_types',
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('key_field', sa.String(length=64), nullable=False),
    sa.Column('versioned', sa.Boolean(), nullable=False),
    sa.Column('type_shell_id', sa.String(length=2000), nullable=False),
    sa.Column('type_environment', sa.LargeBinary(), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slug')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=2000), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('files',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('media_type', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('instances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_type', sa.String(length=64), nullable=False),
    sa.Column('instance_key', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('is_latest', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('shell_id', sa.String(length=2000), nullable=False),
    sa.Column('shell_id_short', sa.String(length=128), nullable=True),
    sa.Column('global_asset_id', sa.String(length=2000), nullable=True),
    sa.Column('aas_json', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['asset_type'], ['asset_types.slug'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('asset_type', 'instance_key', 'revision', name='uq_instances_type_key_revision')
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instances_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_instances_sha256'), ['sha256'], unique=False)
        batch_op.create_index('ix_instances_shell_latest', ['shell_id', 'is_latest'], unique=False)
        batch_op.create_index('ix_instances_type_created', ['asset_type', 'created_at', 'id'], unique=False)

    op.create_table('submodels',
    sa.Column('submodel_id', sa.String(length=2000), nullable=False),
    sa.Column('shell_id', sa.String(length=2000), nullable=False),
    sa.Column('asset_type', sa.String(length=64), nullable=False),
    sa.Column('instance_key', sa.String(length=64), nullable=False),
    sa.Column('semantic_id', sa.String(length=2000), nullable=True),
    sa.Column('id_short', sa.String(length=128), nullable=True),
    sa.Column('first_seen', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_type'], ['asset_types.slug'], ),
    sa.PrimaryKeyConstraint('submodel_id')
    )
    with op.batch_alter_table('submodels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submodels_semantic_id'), ['semantic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submodels_shell_id'), ['shell_id'], unique=False)

    op.create_table('inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('provider_org', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('asset_type', sa.String(length=64), nullable=False),
    sa.Column('instance_key', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'instance_key', 'sha256', name='uq_inbox_dedup')
    )


def downgrade() -> None:
    op.drop_table('inbox')
    with op.batch_alter_table('submodels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submodels_shell_id'))
        batch_op.drop_index(batch_op.f('ix_submodels_semantic_id'))

    op.drop_table('submodels')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_index('ix_instances_type_created')
        batch_op.drop_index('ix_instances_shell_latest')
        batch_op.drop_index(batch_op.f('ix_instances_sha256'))
        batch_op.drop_index(batch_op.f('ix_instances_created_at'))

    op.drop_table('instances')
    op.drop_table('files')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('asset_types')
    op.drop_table('api_keys')

