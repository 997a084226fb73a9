"""What connectors and auditors follow: the revocation feed (polled, or streamed as it is written) and the
organisation's audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import WithJsonSchema

from abm_portal.api.deps import BriefActor, Context, CurrentActor, DbSession
from abm_portal.api.problems import problem_responses
from abm_portal.api.schemas import AuditEntryPublic, AuditLog, Moment, RevocationFeed, RevocationPublic
from abm_portal.clock import utcnow
from abm_portal.errors import ValidationFailed
from abm_portal.services import audit, revocations
from abm_portal.services.actors import Actor

MAX_SEQ = 2**31 - 1  # seq is a 32-bit column
router = APIRouter(prefix="/api/v1", responses=problem_responses(401, 403, 422))


@router.get("/revocations", tags=["revocations"], summary="Grants revoked since the last poll")
def revocation_feed(db: DbSession, actor: CurrentActor,
                    since: Annotated[int, Query(ge=0, le=MAX_SEQ,
                                                description="The `next` of the previous answer")] = 0,
                    ) -> RevocationFeed:
    """Subscriptions of your organisation whose grant stopped being valid (revoked, cancelled, expired or
    completed), oldest first. Poll with ``since`` set to the ``next`` of the previous answer."""
    items = [RevocationPublic.model_validate(r) for r in revocations.list_revocations(db, actor, since)]
    return RevocationFeed(items=items, next=items[-1].seq if items else since)


def start_seq(since: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Start after this seq (the `next` of a feed "
                                                                         "answer, or the last event's id)")] = 0,
              last_event_id: Annotated[str | None, Header(
                  description="The id of the last event received: resume after it (wins over `since`)"),
                  WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,9}$"})] = None) -> int:
    """Checked before the stream opens, so that a bad request still gets a problem+json answer."""
    if last_event_id is None:
        return since
    if not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 10
            and int(last_event_id) <= MAX_SEQ):
        raise ValidationFailed("Last-Event-ID", "Last-Event-ID must be the id (a seq number) of an event this stream "
                                                "sent; leave it out to start from `since`.")
    return int(last_event_id)


@dataclass(frozen=True)
class Following:
    """One admitted stream: who follows, from which seq, and its place among the organisation's streams."""

    actor: Actor
    since: int
    place: str


def following(ctx: Context, actor: BriefActor, since: Annotated[int, Depends(start_seq)]) -> Iterator[Following]:
    """A place among the organisation's open streams for as long as the stream runs (429 when it holds all it
    may); the place is given up when the stream ends, however it ends."""
    place = ctx.followers.admit(actor)
    try:
        yield Following(actor, since, place)
    finally:
        ctx.followers.leave(place)


@router.get("/revocations/stream", tags=["revocations"], response_class=EventSourceResponse,
            summary="Revocations as they are written (Server-Sent Events)",
            responses=problem_responses(429, s422="`since` or `Last-Event-ID` is not a seq number",
                                        s429="Your organisation has as many streams open as it may"))
async def revocation_stream(ctx: Context, follow: Annotated[Following, Depends(following)]
                            ) -> AsyncIterator[ServerSentEvent]:
    """What the feed gives, as it happens: first every revocation after `Last-Event-ID` (else `since`), then each
    new one within a second of its writing, from whichever portal worker wrote it. Each event is `revocation`,
    with `id` = its `seq` and `data` = the item as `GET /api/v1/revocations` shows it; a comment line keeps the
    connection alive every 15 s. The stream ends when your access token expires (a personal token's after the
    access-token lifetime) and at the portal's shutdown: reconnect with a fresh token and `Last-Event-ID`.
    An organisation may hold 4 streams at once; one more gets 429 with `Retry-After`."""
    settings = ctx.settings
    until = utcnow() + timedelta(seconds=settings.access_token_ttl_seconds)
    if follow.actor.expires_at is not None:
        until = min(until, follow.actor.expires_at)
    async for revocation in ctx.followers.follow(follow.actor, follow.since, until):
        item = RevocationPublic.model_validate(revocation)
        yield ServerSentEvent(id=str(item.seq), event="revocation", raw_data=item.model_dump_json(by_alias=True))


@router.get("/audit", tags=["audit"], summary="Your organisation's audit trail")
def audit_trail(db: DbSession, actor: CurrentActor,
                from_: Annotated[Moment | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
                to: Annotated[Moment | None, Query(description="RFC 3339, exclusive")] = None) -> AuditLog:
    """Every recorded change that concerns your organisation, newest first, with actor and before/after state."""
    if from_ is not None and to is not None and to <= from_:
        raise ValidationFailed("to", "“to” must be after “from”.")
    return AuditLog(items=[AuditEntryPublic.model_validate(e) for e in audit.list_audit(db, actor, from_, to)])
