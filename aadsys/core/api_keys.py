"""API keys for internal clients (ERP, e-shop, scripts): ``aak_<id>_<secret>``, stored hashed.

Keys are 256-bit random secrets, so a plain SHA-256 is a sufficient one-way hash (no stretching
needed, unlike passwords), and checking one costs one primary-key lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlmodel import col, select

from aadsys.core.audit import record
from aadsys.core.db import Database
from aadsys.core.tables import ApiKeyRow, utcnow

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
        session.commit()
    return f"{PREFIX}{key_id}_{secret}"


def revoke_key(db: Database, name: str, *, actor: str = "cli") -> None:
    with db.write_session() as session:
        row = session.exec(select(ApiKeyRow).where(ApiKeyRow.name == name, col(ApiKeyRow.revoked_at).is_(None))).first()
        if row is None:
            raise ApiKeyError(f"no active key named '{name}'")
        row.revoked_at = utcnow()
        session.add(row)
        record(session, actor=actor, action="api_key.revoked", subject=name, detail={"id": row.id})
        session.commit()


def list_keys(db: Database) -> list[ApiKeyRow]:
    with db.session() as session:
        return list(session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.created_at))).all())


def scopes_of(db: Database, presented: str) -> frozenset[str] | None:
    """The scopes of a valid, unrevoked key; None for anything else. ``write`` implies ``read``."""
    if not presented.startswith(PREFIX):
        return None
    key_id, sep, secret = presented[len(PREFIX):].partition("_")
    if not sep or not secret:
        return None
    with db.session() as session:
        row = session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_sha256, _hash(secret)):
        return None
    scopes = set(row.scopes)
    if "write" in scopes:
        scopes.add("read")
    return frozenset(scopes)
