"""The revocation feed connectors poll and follow: grants that stopped being valid before they expired.

Entries are numbered by ``seq``; a connector asks for those after the last ``seq`` it saw. Each names the
subscription and the state that ended it (revoked, cancelled, expired or completed). The stream
(``revocation_stream``) gives the same entries as they are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, col, or_, select

from abm_portal.db import AFTER_REVOCATION
from abm_portal.models import Revocation
from abm_portal.services.actors import Actor

MAX_PAGE = 500


def list_revocations(db: Session, actor: Actor, since: int = 0, limit: int = MAX_PAGE) -> Sequence[Revocation]:
    """Revocations that concern the actor's organisation with ``seq`` greater than ``since``, oldest first."""
    org_id = actor.own_org()
    return db.exec(select(Revocation).where(col(Revocation.seq) > since,
                                            or_(col(Revocation.provider_org_id) == org_id,
                                                col(Revocation.consumer_org_id) == org_id))
                   .order_by(col(Revocation.seq)).limit(max(1, min(limit, MAX_PAGE)))).all()


_WRITTEN = "revocation_written"  # ``Session.info`` key: a revocation is written, its commit is due


def written(db: Session) -> None:
    """Call after adding a ``Revocation`` to ``db``: when its transaction commits, the streams of this process
    wake (``Database.after_revocation``), instead of at their next poll."""
    if db.info.get(AFTER_REVOCATION) and not db.info.get(_WRITTEN):
        db.info[_WRITTEN] = True
        event.listen(db, "after_commit", _committed, once=True)


def _committed(db: Session, *_: Any) -> None:
    db.info.pop(_WRITTEN, None)
    for wake in db.info.get(AFTER_REVOCATION, ()):
        wake()
