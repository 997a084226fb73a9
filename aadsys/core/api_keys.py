"""API keys for internal clients (ERP, e-shop, scripts): ``aak_<id>_<secret>``, stored hashed.

Keys are 256-bit random secrets, so a plain SHA-256 is a sufficient one-way hash (no stretching
needed, unlike passwords). A running gateway checks them against a bounded cache (``ApiKeyCache``) that
every change of a key, in any process, clears before the next request (``aadsys.core.key_changes``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import bindparam
from sqlmodel import col, select

from aadsys.core.audit import record
from aadsys.core.db import Database
from aadsys.core.key_changes import KeyChanges
from aadsys.core.tables import ApiKeyRow, table_of, utcnow

_KEYS = table_of(ApiKeyRow)
_KEY = select(_KEYS.c.secret_sha256, _KEYS.c.scopes, _KEYS.c.revoked_at).where(_KEYS.c.id == bindparam("id"))

SCOPES = ("read", "write")
PREFIX = "aak_"


class ApiKeyError(ValueError):
    pass


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db: Database, name: str, scopes: Iterable[str], *, actor: str = "cli") -> str:
    """Make a key and return it in plain text; it is never shown again."""
    scope_set = sorted(set(scopes))
    unknown = [s for s in scope_set if s not in SCOPES]
    if unknown or not scope_set:
        raise ApiKeyError(f"scope must be one of {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'})")
    if not name.strip() or len(name) > 100:
        raise ApiKeyError("name must be 1 to 100 characters")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with db.write_session() as session:
        if session.exec(select(ApiKeyRow).where(ApiKeyRow.name == name)).first():
            raise ApiKeyError(f"a key named '{name}' exists already; choose another name or revoke it first")
        session.add(ApiKeyRow(id=key_id, name=name, secret_sha256=_hash(secret), scopes=scope_set))
        record(session, actor=actor, action="api_key.created", subject=name, detail={"id": key_id, "scopes": scope_set})
        KeyChanges.for_database(db).announce(session)
        session.commit()
    KeyChanges.for_database(db).committed()
    return f"{PREFIX}{key_id}_{secret}"


def revoke_key(db: Database, name: str, *, actor: str = "cli") -> None:
    with db.write_session() as session:
        row = session.exec(select(ApiKeyRow).where(ApiKeyRow.name == name, col(ApiKeyRow.revoked_at).is_(None))).first()
        if row is None:
            raise ApiKeyError(f"no active key named '{name}'")
        row.revoked_at = utcnow()
        session.add(row)
        record(session, actor=actor, action="api_key.revoked", subject=name, detail={"id": row.id})
        KeyChanges.for_database(db).announce(session)
        session.commit()
    KeyChanges.for_database(db).committed()


def list_keys(db: Database) -> list[ApiKeyRow]:
    with db.session() as session:
        return list(session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.created_at))).all())


def _split(presented: str) -> tuple[str, str] | None:
    if not presented.startswith(PREFIX):
        return None
    key_id, sep, secret = presented[len(PREFIX):].partition("_")
    return (key_id, secret) if sep and secret else None


def _granted(stored_sha256: str, scopes: Iterable[str], revoked: bool, secret: str) -> frozenset[str] | None:
    if revoked or not hmac.compare_digest(stored_sha256, _hash(secret)):
        return None
    granted = set(scopes)
    if "write" in granted:
        granted.add("read")
    return frozenset(granted)


class ApiKeyCache:
    """The scopes of a valid, unrevoked key (``write`` implies ``read``), None for anything else, without a
    database round trip per request: what each key id holds (or that it is unknown) is kept, up to ``size``
    ids, until any key changes anywhere (``KeyChanges``); then it starts afresh."""

    def __init__(self, db: Database, size: int = 4096) -> None:
        self.db, self.size = db, size
        self._changes = KeyChanges.for_database(db)
        self._entries: OrderedDict[str, tuple[str, tuple[str, ...], bool] | None] = OrderedDict()
        self._seen = self._changes.token()
        self._lock = threading.Lock()

    async def scopes(self, presented: str) -> frozenset[str] | None:
        """The database is read only for a key id not in memory."""
        parts = _split(presented)
        if parts is None:
            return None
        key_id, secret = parts
        token = self._changes.token()
        with self._lock:
            if token != self._seen:
                self._entries.clear()
                self._seen = token
            known = key_id in self._entries
            entry = self._entries.get(key_id)
            if known:
                self._entries.move_to_end(key_id)
        if not known:
            row = await self.db.read(self.db.fetch_one, _KEY, {"id": key_id})
            entry = None if row is None else (row.secret_sha256, tuple(row.scopes), row.revoked_at is not None)
            with self._lock:
                if self._changes.token() == token:  # a change since the read may have made it stale
                    self._entries[key_id] = entry
                    if len(self._entries) > self.size:
                        self._entries.popitem(last=False)
        return None if entry is None else _granted(*entry, secret)
