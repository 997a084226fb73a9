"""GET /api/v1/events: Server-Sent Events of newly stored instances, resumable with Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import WithJsonSchema

from aadsys.gateway.deps import ContextDep, Instances, Reader
from aadsys.gateway.problems import ProblemError, problem_responses
from aadsys.gateway.receipts import self_url

MAX_SEQ = 2**63 - 1  # a 64-bit column: a larger number names no event, and the database cannot compare it
router = APIRouter(tags=["events"], responses=problem_responses(401, 403))

AssetTypeFilter = Annotated[list[str] | None, Query(alias="assetType", description="filter; repeatable")]


def start_seq(instances: Instances, asset_type: AssetTypeFilter = None,
              after: Annotated[int | None, Query(ge=0, le=MAX_SEQ,
                                                 description="start after this seq; default: only new")] = None,
              last_event_id: Annotated[str | None, Header(
                  description="the id of the last event received, to resume after it"),
                  WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,18}$"})] = None) -> int:  # < MAX_SEQ
    """Checked before the stream opens, so a bad request still gets a problem+json answer."""
    for slug in asset_type or []:
        instances.get_spec(slug)
    if last_event_id is not None:
        if not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 18):
            raise ProblemError(400, "invalid-last-event-id", "Invalid Last-Event-ID",
                               "Last-Event-ID must be a seq number this stream sent")
        return int(last_event_id)
    return after if after is not None else instances.last_seq()


@router.get("/events", response_class=EventSourceResponse, summary="Stream new instances (SSE)",
            responses=problem_responses(400, 404, 422, s400="Last-Event-ID is not a seq number",
                                        s404="An assetType that is not held here"))
async def instance_events(ctx: ContextDep, instances: Instances, _: Reader,
                          start: Annotated[int, Depends(start_seq)],
                          asset_type: AssetTypeFilter = None) -> AsyncIterator[ServerSentEvent]:
    """Each event has `id` = the instance's seq; a reconnecting client sends it back as Last-Event-ID.

    Records received from partners over a connector channel appear here too, with `provider` set."""
    async for instance in instances.stream(start, asset_type, poll_seconds=ctx.settings.event_poll_seconds):
        yield ServerSentEvent(id=str(instance.seq), event="instance",
                              data={**instance.head(), "href": self_url(instance, revision=True)})
