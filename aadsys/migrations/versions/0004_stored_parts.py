"""stored parts: reads serve bytes written once, at ingest, instead of parsing the environment per request

Each instance row gets its business JSON, the ValueOnly form of each submodel (one JSON array) and ``spans``:
where the shell and each submodel lie in ``aas_json`` and each ValueOnly form in ``value_json``
(``aadsys.core.parts``). Each submodel row gets its position among its shell's submodels. An index on
(first_seen, submodel_id) lets the submodel listing page by keyset. Existing rows are filled here, a
thousand at a time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import json

import orjson
import sqlalchemy as sa
from alembic import op

from aas_models import AasModelError, business_json
from aas_models.serialization import value_only

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('instances') as batch:
        batch.add_column(sa.Column('business_json', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('value_json', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('spans', sa.String(length=2000), nullable=True))
    with op.batch_alter_table('submodels') as batch:
        batch.add_column(sa.Column('position', sa.Integer(), nullable=False, server_default='0'))
    _fill(op.get_bind())
    with op.batch_alter_table('instances') as batch:
        batch.alter_column('business_json', existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column('value_json', existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column('spans', existing_type=sa.String(length=2000), nullable=False)
    op.create_index('ix_submodels_first_seen_id', 'submodels', ['first_seen', 'submodel_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_submodels_first_seen_id', table_name='submodels')
    with op.batch_alter_table('submodels') as batch:
        batch.drop_column('position')
    with op.batch_alter_table('instances') as batch:
        batch.drop_column('spans')
        batch.drop_column('value_json')
        batch.drop_column('business_json')


def _fill(bind: sa.Connection) -> None:
    instances = sa.table('instances', sa.column('id', sa.Integer), sa.column('asset_type', sa.String),
                         sa.column('aas_json', sa.LargeBinary), sa.column('business_json', sa.LargeBinary),
                         sa.column('value_json', sa.LargeBinary), sa.column('spans', sa.String))
    submodels = sa.table('submodels', sa.column('submodel_id', sa.String), sa.column('position', sa.Integer))
    after = 0
    while True:
        rows = bind.execute(sa.select(instances.c.id, instances.c.asset_type, instances.c.aas_json)
                            .where(instances.c.id > after).order_by(instances.c.id).limit(BATCH)).all()
        if not rows:
            return
        for row in rows:
            try:
                env = orjson.loads(row.aas_json)
                spans = _spans(row.aas_json)
                # files named as they were then (the gateway's route); today's reader wants the digest (0005)
                business = orjson.dumps(business_json(row.asset_type, orjson.loads(
                    bytes(row.aas_json).replace(b'"value":"/api/v1/files/', b'"value":"nih:sha-256;'))))
            except (ValueError, LookupError, AasModelError) as exc:
                raise RuntimeError(f"instances row {row.id} holds no AAS environment of a {row.asset_type} record "
                                   f"({exc}); restore it from a backup or delete the row, then migrate again") from None
            values = [orjson.dumps(value_only(sm)) for sm in env.get("submodels") or []]
            value_spans, offset = [], 1
            for value in values:
                value_spans.append((offset, offset + len(value)))
                offset += len(value) + 1
            bind.execute(instances.update().where(instances.c.id == row.id).values(
                business_json=business,
                value_json=b"[" + b",".join(values) + b"]",
                spans=_format(spans[:1]) + "|" + _format(spans[1:]) + "|" + _format(value_spans)))
            for position, sm in enumerate(env.get("submodels") or []):
                bind.execute(submodels.update().where(submodels.c.submodel_id == sm["id"]).values(position=position))
        after = rows[-1].id


def _spans(blob: bytes) -> list[tuple[int, int]]:
    """Where the shell and each submodel lie in an environment ``{"assetAdministrationShells":[s],"submodels":[…]}``:
    read as Latin-1, one character is one byte, so the decoder's end positions are byte offsets."""
    text, decoder = blob.decode("latin-1"), json.JSONDecoder()
    position = len('{"assetAdministrationShells":[')
    _, end = decoder.raw_decode(text, position)
    spans = [(position, end)]
    opener = '],"submodels":['
    if text.startswith(opener, end) and not text.startswith("]", end + len(opener)):
        position = end + len(opener)
        while True:
            _, end = decoder.raw_decode(text, position)
            spans.append((position, end))
            if not text.startswith(",", end):
                break
            position = end + 1
    return spans


def _format(spans: list[tuple[int, int]]) -> str:
    return ",".join(f"{start}:{end}" for start, end in spans)
