"""What connectors and auditors follow: the revocation feed and the organisation's audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from abm_portal.api.deps import CurrentActor, DbSession
from abm_portal.api.problems import problem_responses
from abm_portal.api.schemas import AuditEntryPublic, AuditLog, Moment, RevocationFeed, RevocationPublic
from abm_portal.errors import ValidationFailed
from abm_portal.services import audit, revocations

router = APIRouter(prefix="/api/v1", responses=problem_responses(401, 403, 422))


@router.get("/revocations", tags=["revocations"], summary="Grants revoked since the last poll")
def revocation_feed(db: DbSession, actor: CurrentActor,
                    since: Annotated[int, Query(ge=0, le=2**31 - 1,  # seq is a 32-bit column
                                                description="The `next` of the previous answer")] = 0,
                    ) -> RevocationFeed:
    """Subscriptions of your organisation whose grant stopped being valid (revoked, cancelled, expired or
    completed), oldest first. Poll with ``since`` set to the ``next`` of the previous answer."""
    items = [RevocationPublic.model_validate(r) for r in revocations.list_revocations(db, actor, since)]
    return RevocationFeed(items=items, next=items[-1].seq if items else since)


@router.get("/audit", tags=["audit"], summary="Your organisation's audit trail")
def audit_trail(db: DbSession, actor: CurrentActor,
                from_: Annotated[Moment | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
                to: Annotated[Moment | None, Query(description="RFC 3339, exclusive")] = None) -> AuditLog:
    """Every recorded change that concerns your organisation, newest first, with actor and before/after state."""
    if from_ is not None and to is not None and to <= from_:
        raise ValidationFailed("to", "“to” must be after “from”.")
    return AuditLog(items=[AuditEntryPublic.model_validate(e) for e in audit.list_audit(db, actor, from_, to)])
