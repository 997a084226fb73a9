"""The append-only audit trail (DESIGN §6): every state change, with actor, time and before/after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from abm_portal.clock import as_utc, utcnow
from abm_portal.models import AuditEntry
from abm_portal.services.actors import Actor

MAX_ENTRIES = 1000
SYSTEM_ACTOR = "portal"


def record(db: Session, actor: Actor | str, action: str, subject: str, *, org_id: str | None,
           partner_org_id: str | None = None, before: str | None = None, after: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    """Add one entry to the current transaction; the caller's commit makes it permanent with the change itself."""
    entry = AuditEntry(at=utcnow(), actor=actor.label if isinstance(actor, Actor) else actor, org_id=org_id,
                       partner_org_id=partner_org_id, action=action, subject=subject, before=before, after=after,
                       detail=detail)
    db.add(entry)
    return entry


def list_audit(db: Session, actor: Actor, start: datetime | None, end: datetime | None,
               limit: int = MAX_ENTRIES) -> Sequence[AuditEntry]:
    """The newest entries that concern the actor's organisation, in ``[start, end)``; no other organisation's."""
    org_id = actor.own_org()
    query = select(AuditEntry).where(or_(col(AuditEntry.org_id) == org_id, col(AuditEntry.partner_org_id) == org_id))
    if start is not None:
        query = query.where(col(AuditEntry.at) >= as_utc(start))
    if end is not None:
        query = query.where(col(AuditEntry.at) < as_utc(end))
    return db.exec(query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
                   .limit(max(1, min(limit, MAX_ENTRIES)))).all()
