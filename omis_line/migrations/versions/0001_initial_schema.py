"""Initial schema of the OMIS line: orders, production orders with BOM, label images, bottles, RFID trace,
status outbox and event-stream positions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('follower_positions',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('label_images',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('sales_orders',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('first_rfid_tag', sa.String(length=64), nullable=True),
    sa.Column('announced_stations', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('sales_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_orders_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sales_orders_state'), ['state'], unique=False)

    op.create_table('status_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('status_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_revisions_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_status_revisions_state'), ['state'], unique=False)

    op.create_table('trace_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rfid_tag', sa.String(length=64), nullable=False),
    sa.Column('production_order_id', sa.Integer(), nullable=False),
    sa.Column('sales_order_id', sa.String(length=64), nullable=False),
    sa.Column('station', sa.String(length=20), nullable=False),
    sa.Column('entered', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('trace_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trace_events_entered'), ['entered'], unique=False)
        batch_op.create_index(batch_op.f('ix_trace_events_left'), ['left'], unique=False)
        batch_op.create_index(batch_op.f('ix_trace_events_rfid_tag'), ['rfid_tag'], unique=False)
        batch_op.create_index(batch_op.f('ix_trace_events_sales_order_id'), ['sales_order_id'], unique=False)

    op.create_table('production_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sales_order_id', sa.String(length=64), nullable=False),
    sa.Column('item_index', sa.Integer(), nullable=False),
    sa.Column('bottle_size_ml', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('bom', sa.JSON(), nullable=False),
    sa.Column('label_text', sa.Text(), nullable=True),
    sa.Column('label_sha256', sa.String(length=64), nullable=True),
    sa.Column('label_content_type', sa.String(length=100), nullable=True),
    sa.Column('label_verified', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('queue_seq', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['sales_order_id'], ['sales_orders.order_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('production_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_production_orders_queue_seq'), ['queue_seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_production_orders_sales_order_id'), ['sales_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_production_orders_state'), ['state'], unique=False)

    op.create_table('bottles',
    sa.Column('rfid_tag', sa.String(length=64), nullable=False),
    sa.Column('production_order_id', sa.Integer(), nullable=False),
    sa.Column('sales_order_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('printed_sha256', sa.String(length=64), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['production_order_id'], ['production_orders.id'], ),
    sa.PrimaryKeyConstraint('rfid_tag')
    )
    with op.batch_alter_table('bottles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bottles_production_order_id'), ['production_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bottles_sales_order_id'), ['sales_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bottles_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('bottles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bottles_state'))
        batch_op.drop_index(batch_op.f('ix_bottles_sales_order_id'))
        batch_op.drop_index(batch_op.f('ix_bottles_production_order_id'))

    op.drop_table('bottles')
    with op.batch_alter_table('production_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_production_orders_state'))
        batch_op.drop_index(batch_op.f('ix_production_orders_sales_order_id'))
        batch_op.drop_index(batch_op.f('ix_production_orders_queue_seq'))

    op.drop_table('production_orders')
    with op.batch_alter_table('trace_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trace_events_sales_order_id'))
        batch_op.drop_index(batch_op.f('ix_trace_events_rfid_tag'))
        batch_op.drop_index(batch_op.f('ix_trace_events_left'))
        batch_op.drop_index(batch_op.f('ix_trace_events_entered'))

    op.drop_table('trace_events')
    with op.batch_alter_table('status_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_revisions_state'))
        batch_op.drop_index(batch_op.f('ix_status_revisions_order_id'))

    op.drop_table('status_revisions')
    with op.batch_alter_table('sales_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_orders_state'))
        batch_op.drop_index(batch_op.f('ix_sales_orders_received_at'))

    op.drop_table('sales_orders')
    op.drop_table('label_images')
    op.drop_table('follower_positions')
