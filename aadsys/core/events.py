"""Wake-ups for everyone who streams new instances (SSE clients, the connector).

The database is the source of truth: a waiter is only told "look again", then reads rows after
the last sequence number it saw. Writers in this process wake the waiters directly (``notify`` after their
commit); writers in the other workers of the same PostgreSQL database, through ``LISTEN``/``NOTIFY``
(``announce`` inside their transaction, ``aadsys.core.notifications``); a slow poll stays as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from sqlmodel import Session

from aadsys.core.notifications import INSTANCES, Notifications


class InstanceEvents:
    def __init__(self, notifications: Notifications | None = None) -> None:
        self.notifications = notifications
        if notifications is not None:
            notifications.listen(INSTANCES, self._heard)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        # own commits per asset type in this process: a follower of one type sleeps through everything else
        self.own_commits: Counter[str] = Counter()
        self.closed = False  # the server is stopping: streams end, so that no open one holds up its shutdown

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the event loop that serves the waiters (called at app start-up)."""
        self._loop = loop
        self._event = asyncio.Event()

    def notify(self, own_type: str | None = None) -> None:
        """Thread-safe: called after a commit, from a worker thread or the loop itself; ``own_type`` names the
        asset type of a commit of our own records (received ones wake only the streams)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire, own_type)

    def announce(self, session: Session, own_type: str | None = None) -> None:
        """Inside a write transaction that stores records: the other workers hear of it when it commits."""
        if self.notifications is not None:
            self.notifications.announce(session, INSTANCES, own_type or "")

    def _heard(self, payload: str) -> None:
        """Another worker committed records (of our own ``payload`` type, or received ones when empty)."""
        self._fire(payload or None)

    def close(self) -> None:
        """The server stops: wake every waiter for the last time (call it on the loop)."""
        self.closed = True
        self._fire()

    def _fire(self, own_type: str | None = None) -> None:
        if own_type is not None:
            self.own_commits[own_type] += 1
        if self._event is not None:
            self._event.set()
            self._event = asyncio.Event()

    def generation(self) -> asyncio.Event:
        """Take this before reading the database; wait on it afterwards so no notification slips between."""
        if self._event is None:
            self.bind(asyncio.get_running_loop())
        assert self._event is not None
        return self._event

    @staticmethod
    async def wait(generation: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                await generation.wait()

    async def wait_own(self, asset_type: str, seen: int, timeout: float) -> None:
        """Until a commit of our own ``asset_type`` records after ``own_commits[asset_type]`` was ``seen``, or
        ``timeout`` (writers in other processes are only found by polling)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.own_commits[asset_type] == seen and (left := deadline - loop.time()) > 0:
            await self.wait(self.generation(), left)
