"""What a consumer has stored per subscription, read off the inbox: its resume point and its figures."""

from __future__ import annotations

from sqlalchemy import select

from aadsys.core.db import Database
from aadsys.core.tables import InboxRow, table_of
from connector._rows import EngineRows
from connector.data import _figures
from connector.data._figures import ConsumerFigures
from connector.data._outbox import transfer_digest

_INBOX = table_of(InboxRow)


def figures(db: Database, subscription_id: str) -> ConsumerFigures:
    """How many records the inbox stored for one subscription, and the highest seq: where it resumes."""
    return _figures.consumer(EngineRows(db.engine), subscription_id)


def digest(db: Database, subscription_id: str) -> tuple[int, str]:
    """(count, digest) over what this subscription stored, as the provider computes it over what it sent."""
    with db.session() as session:
        rows = session.execute(select(_INBOX.c.seq, _INBOX.c.instance_key, _INBOX.c.sha256)
                               .where(_INBOX.c.subscription_id == subscription_id).order_by(_INBOX.c.seq)
                               .execution_options(yield_per=5000))
        return transfer_digest((r.seq, r.instance_key, r.sha256) for r in rows)
