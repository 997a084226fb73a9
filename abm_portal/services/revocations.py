"""The revocation feed connectors poll: grants that stopped being valid before they expired.

Entries are numbered by ``seq``; a connector asks for those after the last ``seq`` it saw. Each names the
subscription and the state that ended it (revoked, cancelled, expired or completed).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, or_, select

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
