"""Revocations as they happen: what ``GET /api/v1/revocations/stream`` (Server-Sent Events) follows.

A follower gets what the feed gives (``revocations.list_revocations``: the same visibility, the same items, in
``seq`` order): first every revocation after the ``seq`` it resumes from (``Last-Event-ID``, else ``since``), then
each new one as it is written.

Wake-ups. A revocation is written in the transaction that ends a subscription (``lifecycle.move_subscription``);
when that transaction commits in this process, the streams here wake at once (``revocations.written``). The other
workers of one portal share only the database: while a worker serves any stream, it asks the database for the
highest ``seq`` every ``POLL_SECONDS``, one query for all of its streams, and wakes them when it moved. So a
revocation written by any worker reaches every follower within that poll and one read: under a second.

Bounds (the followers are other companies). An organisation holds at most ``max_per_org`` streams at a time,
across every worker: each open stream has a row in ``revocation_streams``, counted and added under a lock per
organisation, renewed by its worker every ``RENEW_SECONDS`` and deleted when the stream ends; the rows of a
killed worker stop counting after ``STALE_SECONDS``. One more is refused (``TooManyStreams``, HTTP 429). A
stream ends when the caller's access token expires (other credentials: after the access token lifetime), and
the client reconnects with a fresh token, resuming with ``Last-Event-ID``. At shutdown every stream ends at once
(``Followers.close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import anyio
from sqlalchemy import delete, func, update
from sqlmodel import col, select

from abm_portal.clock import utcnow
from abm_portal.db import Database, one_at_a_time
from abm_portal.errors import TooManyStreams
from abm_portal.models import Revocation, RevocationStream
from abm_portal.services import revocations
from abm_portal.services.actors import Actor

log = logging.getLogger("abm_portal.revocations")
POLL_SECONDS = 0.5  # how soon a revocation written by another worker wakes this worker's streams
RENEW_SECONDS = 10.0  # how often a worker renews the rows of the streams it serves
STALE_SECONDS = 30.0  # a row not renewed for this long (its worker was killed) no longer counts
MAX_PER_ORG = 4
REREAD_SECONDS = 30.0  # a stream reads again at least this often, should a wake-up ever be missed


class Followers:
    """The revocation streams one portal worker serves, and what wakes them."""

    def __init__(self, database: Database, *, max_per_org: int = MAX_PER_ORG,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.database, self.max_per_org, self.poll_seconds = database, max_per_org, poll_seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.open: set[str] = set()  # ids of the rows of the streams this worker serves
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        self._top: int | None = None

    # -- wake-ups -----------------------------------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the event loop that serves the streams (at app start-up)."""
        self._loop = loop

    def ring(self) -> None:
        """A revocation committed in this process (thread-safe: commits run in worker threads)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire)

    def close(self) -> None:
        """The server stops: every stream ends now (call it on the loop)."""
        self.closed = True
        self._fire()

    def _fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def generation(self) -> asyncio.Event:
        """Take this before reading, wait on it after: no wake-up slips in between."""
        return self._event

    async def run(self) -> None:
        """While this worker serves streams: the highest seq every ``poll_seconds`` (others' revocations), and the
        streams' rows renewed every ``RENEW_SECONDS``. Idle, it asks the database nothing."""
        renewed = anyio.current_time()
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not self.open:
                self._top = None
                continue
            try:
                top = await anyio.to_thread.run_sync(self._highest_seq)
                if top != self._top:  # also the first poll: a stream may have read before a write it came after
                    self._fire()
                self._top = top
                if anyio.current_time() - renewed >= RENEW_SECONDS:
                    await anyio.to_thread.run_sync(self._renew)
                    renewed = anyio.current_time()
            except Exception:  # the database is away: the streams wait, and the poll goes on
                log.exception("following revocations for the streams failed; trying again")

    def _highest_seq(self) -> int:
        with self.database.session() as db:
            return int(db.exec(select(func.max(col(Revocation.seq)))).one() or 0)

    def _renew(self) -> None:
        ours = list(self.open)
        if ours:
            with self.database.session() as db:
                db.exec(update(RevocationStream).where(col(RevocationStream.id).in_(ours))
                        .values(seen_at=utcnow()))
                db.commit()

    # -- streams ------------------------------------------------------------------------------------------------
    def admit(self, actor: Actor) -> str:
        """A place for one more stream of the actor's organisation (blocking); ``TooManyStreams`` when it holds
        ``max_per_org`` already. Returns the id to ``leave`` with."""
        org_id = actor.own_org()
        now = utcnow()
        with self.database.session() as db:
            one_at_a_time(db, f"revocation streams of {org_id}")  # PostgreSQL; SQLite's write lock serialises
            db.exec(delete(RevocationStream).where(
                col(RevocationStream.org_id) == org_id,
                col(RevocationStream.seen_at) < now - timedelta(seconds=STALE_SECONDS)))
            held = db.exec(select(func.count()).select_from(RevocationStream)
                           .where(col(RevocationStream.org_id) == org_id)).one()
            if held >= self.max_per_org:
                db.commit()
                raise TooManyStreams(
                    f"Your organisation has {held} revocation streams open, the most it may hold at once; close "
                    "one (one per connector is enough), or poll GET /api/v1/revocations?since=N meanwhile, and try "
                    f"again after {int(STALE_SECONDS)} s.", retry_after=int(STALE_SECONDS))
            row = RevocationStream(org_id=org_id, worker=self.worker, opened_at=now, seen_at=now)
            db.add(row)
            db.commit()
            place = str(row.id)
            self.open.add(place)
            return place

    def leave(self, stream_id: str) -> None:
        """The stream ended (blocking): its place is free again."""
        self.open.discard(stream_id)
        with self.database.session() as db:
            db.exec(delete(RevocationStream).where(col(RevocationStream.id) == stream_id))
            db.commit()

    async def follow(self, actor: Actor, since: int, until: datetime) -> AsyncIterator[Revocation]:
        """Every revocation the actor's organisation may see after ``since``, then each new one, until ``until``
        (the caller's credentials expire) or the server stops."""
        while not self.closed:
            generation = self.generation()
            page = await anyio.to_thread.run_sync(self._after, actor, since)
            for revocation in page:
                yield revocation
                assert revocation.seq is not None
                since = revocation.seq
            if len(page) >= revocations.MAX_PAGE:
                continue
            left = (until - utcnow()).total_seconds()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, REREAD_SECONDS)):  # not wait_for: it can swallow a cancel
                    await generation.wait()

    def _after(self, actor: Actor, since: int) -> Sequence[Revocation]:
        with self.database.session() as db:
            return revocations.list_revocations(db, actor, since)
