"""files by digest: a stored record names a file ``nih:sha-256;<hex>`` (RFC 6920), not by the gateway's URL

Until now a File element's value in stored AAS JSON was the gateway's download route, ``/api/v1/files/<hex>``.
The gateway now maps digests to that route when it serves a record, so the stored bytes (and their sha256) are
the same at every AAdSys the record reaches. Rows that hold a route are rewritten here: ``aas_json`` and
``value_json``, their ``spans`` (each reference is 2 bytes shorter), ``sha256``, and the sha256 of the inbox rows
that stored them, so a record received again is still known. Downgrade writes the routes back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
import hashlib
import re
from bisect import bisect_left

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 1000
ROUTE, DIGEST = b'"value":"/api/v1/files/', b'"value":"nih:sha-256;'


def upgrade() -> None:
    _rewrite(op.get_bind(), ROUTE, DIGEST)


def downgrade() -> None:
    _rewrite(op.get_bind(), DIGEST, ROUTE)


def _rewrite(bind: sa.Connection, old: bytes, new: bytes) -> None:
    instances = sa.table('instances', sa.column('id', sa.Integer), sa.column('aas_json', sa.LargeBinary),
                         sa.column('value_json', sa.LargeBinary), sa.column('spans', sa.String),
                         sa.column('sha256', sa.String))
    inbox = sa.table('inbox', sa.column('instance_id', sa.Integer), sa.column('sha256', sa.String))
    reference = re.compile(re.escape(old) + rb'(?=[0-9a-f]{64}")')
    # a search of the bytes, as each database writes it (SQLite's LIKE does not match inside a BLOB)
    search = "instr(aas_json, :old) > 0" if bind.dialect.name == "sqlite" else "position(:old in aas_json) > 0"
    holds = sa.text(search).bindparams(sa.bindparam("old", old, type_=sa.LargeBinary))
    after = 0
    while True:
        rows = bind.execute(sa.select(instances.c.id, instances.c.aas_json, instances.c.value_json, instances.c.spans)
                            .where(instances.c.id > after, holds).order_by(instances.c.id).limit(BATCH)).all()
        if not rows:
            return
        for row in rows:
            aas_json, aas_at = _replaced(reference, bytes(row.aas_json), new)
            value_json, value_at = _replaced(reference, bytes(row.value_json), new)
            shell, submodels, values = row.spans.split("|")
            delta = len(new) - len(old)
            spans = "|".join((_shifted(shell, aas_at, delta), _shifted(submodels, aas_at, delta),
                              _shifted(values, value_at, delta)))
            sha256 = hashlib.sha256(aas_json).hexdigest()
            bind.execute(instances.update().where(instances.c.id == row.id).values(
                aas_json=aas_json, value_json=value_json, spans=spans, sha256=sha256))
            bind.execute(inbox.update().where(inbox.c.instance_id == row.id).values(sha256=sha256))
        after = rows[-1].id


def _replaced(reference: re.Pattern[bytes], blob: bytes, new: bytes) -> tuple[bytes, list[int]]:
    """``blob`` with each reference rewritten, and where each began in ``blob``."""
    return reference.sub(new, blob), [match.start() for match in reference.finditer(blob)]


def _shifted(spans: str, at: list[int], delta: int) -> str:
    """``start:end,…`` byte offsets moved by ``delta`` for each rewritten reference that began before them."""
    def moved(offset: int) -> int:
        return offset + delta * bisect_left(at, offset)
    return ",".join(f"{moved(int(start))}:{moved(int(end))}"
                    for start, end in (pair.split(":") for pair in spans.split(",") if pair))
