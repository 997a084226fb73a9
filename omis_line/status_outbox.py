"""Sales Order Status revisions: decided into the outbox table, posted to the AAdSys by one sender task.

A revision's business JSON is fixed when the line decides it (inside the transaction of what caused it), so a
retry after a crash posts the very same content, which the AAdSys answers with 200 instead of a new revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime

import httpx
from sqlmodel import Session, col, select

from omis_line.clock import iso, utcnow
from omis_line.db import Database
from omis_line.models import RevisionState, StatusRevision, TraceEvent

log = logging.getLogger(__name__)

STATUS_PATH = "/api/v1/asset-types/sales-order-status/instances"
MAX_TRACE = 200  # the Sales Order Status record holds at most this many trace entries
# The record's trace results are ok|failed|skipped: a pass that sent the bottle to rework failed.
_RECORD_RESULT = {"ok": "ok", "failed": "failed", "rework": "failed"}


def decide(session: Session, order_id: str, status: str, *, station: str | None = None,
           rfid_tag: str | None = None, at: datetime | None = None) -> StatusRevision:
    """Add a revision to the outbox within the caller's transaction; the caller commits."""
    session.flush()  # trace rows of this same transaction count
    rows = session.exec(select(TraceEvent).where(TraceEvent.sales_order_id == order_id)
                        .order_by(col(TraceEvent.entered), col(TraceEvent.id))).all()
    trace = [{"station": r.station, "entered": iso(r.entered), "left": iso(r.left),
              "result": _RECORD_RESULT[r.result]} for r in rows][-MAX_TRACE:]
    body = {"orderId": order_id, "status": status, "currentStation": station, "rfidTag": rfid_tag,
            "trace": trace, "updatedAt": iso(at or utcnow())}
    revision = StatusRevision(order_id=order_id, status=status, payload=json.dumps(body))
    session.add(revision)
    return revision


def counts(session: Session, order_id: str) -> tuple[int, int]:
    """(posted, pending) revisions of one order."""
    states = session.exec(select(StatusRevision.state).where(StatusRevision.order_id == order_id)).all()
    return states.count(RevisionState.POSTED), states.count(RevisionState.PENDING)


class StatusSender:
    """Posts pending revisions oldest first; while the AAdSys is down or failing it retries with back-off."""

    def __init__(self, database: Database, client: httpx.AsyncClient, *, retry_max_seconds: float) -> None:
        self.database = database
        self.client = client
        self.retry_max_seconds = retry_max_seconds
        self.wake = asyncio.Event()

    async def run(self) -> None:
        delay = 0.1
        while True:
            revision = self._oldest_pending()
            if revision is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):  # not wait_for: on 3.11 it can swallow a cancellation
                        await self.wake.wait()
                continue
            outcome = await self._post(revision)
            if outcome is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
            else:
                delay = 0.1

    def _oldest_pending(self) -> StatusRevision | None:
        with self.database.session() as session:
            return session.exec(select(StatusRevision).where(StatusRevision.state == RevisionState.PENDING)
                                .order_by(col(StatusRevision.id)).limit(1)).first()

    async def _post(self, revision: StatusRevision) -> str | None:
        """The revision's new state, or None when it must be tried again later."""
        error: str | None = None
        state: str | None = None
        try:
            response = await self.client.post(STATUS_PATH, content=revision.payload,
                                              headers={"Content-Type": "application/json"})
            if response.status_code in (200, 201):
                state = RevisionState.POSTED
            elif 400 <= response.status_code < 500 and response.status_code not in (401, 403, 408, 429):
                state, error = RevisionState.REJECTED, f"{response.status_code}: {response.text[:2000]}"
                log.error("the AAdSys refused status revision %s of %s: %s", revision.id, revision.order_id, error)
            else:
                error = f"{response.status_code}: {response.text[:500]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self.database.session() as session:
            row = session.get(StatusRevision, revision.id)
            assert row is not None
            row.attempts += 1
            row.last_error = error
            if state is not None:
                row.state = state
                row.posted_at = utcnow() if state == RevisionState.POSTED else None
            session.commit()
        return state
