"""How every process serving one database learns at once that an API key was made or revoked.

A gateway caches what it knows of each key (``ApiKeyCache``) and clears it when the token here changes:
- SQLite: a stamp file beside the database file, replaced after each commit that changes a key; a gateway
  compares its ``stat`` on every request (a microsecond, no database read). Every process that opens the
  database file sees the same stamp.
- PostgreSQL: ``NOTIFY aadsys_api_keys`` in the changing transaction, delivered at commit to a ``LISTEN``
  thread of each gateway, on any host. While that thread is not listening, nothing is cached.
- An in-memory database lives in one process: a counter.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from aadsys.core.db import Database

log = logging.getLogger("aadsys.keys")
CHANNEL = "aadsys_api_keys"
_BY_DATABASE: weakref.WeakKeyDictionary[Database, KeyChanges] = weakref.WeakKeyDictionary()
_CREATE = threading.Lock()


class KeyChanges:
    def __init__(self, db: Database) -> None:
        self._counter = itertools.count()
        self._local = next(self._counter)
        self._stamp: Path | None = None
        self._listener: _Listener | None = None
        url = make_url(db.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._stamp = Path(f"{url.database}-keys")
        elif db.is_postgres:
            self._listener = _Listener(url.set(drivername="postgresql").render_as_string(hide_password=False))
            db.on_dispose(self._listener.stop)

    @classmethod
    def for_database(cls, db: Database) -> KeyChanges:
        with _CREATE:
            found = _BY_DATABASE.get(db)
            if found is None:
                found = _BY_DATABASE[db] = cls(db)
            return found

    def token(self) -> Any:
        """Equal tokens: no key changed in between."""
        if self._stamp is not None:
            try:
                stat = self._stamp.stat()
            except FileNotFoundError:
                return (self._local, None)
            return (self._local, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._listener is not None:
            return (self._local, self._listener.token())
        return self._local

    def announce(self, session: Session) -> None:
        """Inside the transaction that changes a key."""
        if self._listener is not None:
            session.execute(text(f"NOTIFY {CHANNEL}"))

    def committed(self) -> None:
        """After that transaction committed."""
        self._local = next(self._counter)
        if self._stamp is not None:
            fresh = self._stamp.with_name(f"{self._stamp.name}.{os.getpid()}.tmp")
            fresh.write_bytes(os.urandom(16))
            os.replace(fresh, self._stamp)  # a new inode every time, whatever the clock's resolution


class _Listener:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._received = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def token(self) -> Any:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="api-key-changes", daemon=True)
                    self._thread.start()
        return self._received if self._listening else object()  # not listening: every token differs

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._received += 1  # anything before LISTEN is unknown
                    self._listening = True
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=1.0):
                            self._received += 1
            except psycopg.Error as exc:
                log.warning("not listening for API key changes (%s); retrying in 1 s, uncached meanwhile", exc)
            finally:
                self._listening = False
            self._stop.wait(1.0)
