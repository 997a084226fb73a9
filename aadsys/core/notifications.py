"""Wake-ups across the workers of one AAdSys: PostgreSQL ``LISTEN``/``NOTIFY`` (DESIGN §10).

A writer announces inside its transaction (``announce``), so the notice goes out with the commit and never
before it; every worker's listener hears it and calls the handlers of its channel on the event loop. Notices
carry no records, only what to look at again (an asset type, a subscription): the database stays the one source
of truth, and a lost notice costs only the wait until the fallback poll.

On SQLite there is one process per database, whose writers wake its waiters directly; ``announce`` does nothing
there and no listener runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import text
from sqlmodel import Session

from aadsys.core.db import Database

log = logging.getLogger("aadsys")
INSTANCES = "aadsys_instances"  # payload: "<worker>|<asset type>|own" or "<worker>||received"
RETRY_SECONDS = 1.0


def worker_name() -> str:
    """This worker's name among those sharing a database: host, pid and a random part (a reused pid is another
    worker)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def listening(notifications: Notifications | None) -> bool:
    """Whether other workers' notices reach this one now: only then may a waiter rely on them and poll less."""
    return notifications is not None and notifications.connected


class Notifications:
    def __init__(self, db: Database, worker: str) -> None:
        self.db, self.worker = db, worker
        self._handlers: dict[str, list[Callable[[str], None]]] = defaultdict(list)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False

    def announce(self, session: Session, channel: str, payload: str) -> None:
        """Inside a write transaction: ``payload`` reaches every worker's listener when it commits."""
        if self.db.is_postgres:
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": channel, "payload": f"{self.worker}|{payload}"})

    def listen(self, channel: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(payload)`` on the event loop for every notice on ``channel`` from another worker."""
        self._handlers[channel].append(handler)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.db.is_postgres or self._thread is not None:
            return
        self._loop = loop
        self._thread = threading.Thread(target=self._follow, name="pg-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _follow(self) -> None:
        """The listener's own connection, in its own thread; reconnects when the database comes back."""
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    for channel in list(self._handlers):
                        connection.execute(f'LISTEN "{channel}"')
                    self.connected = True
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            self._deliver(notice.channel, notice.payload)
            except Exception as exc:  # the database went away: listen again when it answers
                if self.connected:
                    log.warning("listening for other workers' notices stopped (%s); retrying", exc)
            self.connected = False
            self._stop.wait(RETRY_SECONDS)

    def _deliver(self, channel: str, payload: str) -> None:
        worker, _, rest = payload.partition("|")
        if worker == self.worker or self._loop is None or self._loop.is_closed():
            return
        for handler in self._handlers.get(channel, ()):
            self._loop.call_soon_threadsafe(handler, rest)
