"""Throttling of failed authentications (NIST SP 800-63B §5.2.2, rate limiting): exponential backoff, then a
temporary lockout; the edges answer 429 (RFC 6585 §4) with ``Retry-After`` (RFC 9110 §10.2.3).

Counted per key: the account's email (web logins) or the client id (``/oauth/token``), and the client's IP
address (logins and client authentications apart). After the free failures each further one makes the key
wait ``auth_backoff_base_seconds * 2**n`` (at most ``auth_lockout_seconds``); the ``lockout_failures``-th locks
it for ``auth_lockout_seconds`` and is recorded in the audit trail. An attempt while a key waits is refused
unchecked, even with the right password, and counts as a failure: hammering only prolongs the wait. A success
forgets the account's (client's) failures but not the address's; failures older than the lockout are forgotten.

The counts live in the database (``auth_throttles``), so every worker and host of one portal sees the same, and
concurrent failures never lose a count: a failure locks its rows (``SELECT … FOR UPDATE``, always in the same
order, so two workers never wait on each other in a cycle) before it adds one; two first failures of one key
insert the same row at once, and the loser counts again on the row the winner made.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from abm_portal.clock import as_utc, iso, utcnow
from abm_portal.config import Settings
from abm_portal.errors import TooManyAttempts
from abm_portal.models import AuthThrottle, Organisation, User
from abm_portal.services import audit

ACCOUNT, ADDRESS, CLIENT, CLIENT_ADDRESS = "account", "address", "client", "client-address"
_PER_ADDRESS = (ADDRESS, CLIENT_ADDRESS)
_MAX_KEY = 320
_ATTEMPTS = 3  # one key's first row raced (account, then address): each race is lost at most once


@dataclass(frozen=True)
class Key:
    scope: str
    value: str


def login_keys(email: str, address: str | None) -> tuple[Key, ...]:
    return Key(ACCOUNT, email.strip().lower()[:_MAX_KEY]), Key(ADDRESS, (address or "unknown")[:_MAX_KEY])


def client_keys(client_id: str, address: str | None) -> tuple[Key, ...]:
    return Key(CLIENT, client_id[:_MAX_KEY]), Key(CLIENT_ADDRESS, (address or "unknown")[:_MAX_KEY])


def check(db: Session, settings: Settings, keys: Sequence[Key]) -> None:
    """Before the credentials are checked: ``TooManyAttempts`` (and one more failure) while any key waits."""
    now = utcnow()
    if not any(_waiting(row, now) for row in _rows(db, keys)):
        db.rollback()  # end the read; on SQLite it holds the write lock
        return
    raise too_many(record_failure(db, settings, keys))


def record_failure(db: Session, settings: Settings, keys: Sequence[Key]) -> int:
    """Count one failed attempt against every key (committed); the seconds until all of them may try again."""
    ordered = sorted(keys, key=lambda k: (k.scope, k.value))
    for attempt in range(_ATTEMPTS):
        try:
            return _record_failure(db, settings, ordered)
        except IntegrityError:  # another worker made the same key's first row at the same time
            db.rollback()
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def forget(db: Session, keys: Sequence[Key]) -> None:
    """After a success: the account's (client's) failures are forgotten; the address's stay."""
    personal = [k for k in keys if k.scope not in _PER_ADDRESS]
    for row in _rows(db, personal):
        db.delete(row)
    db.commit()


def too_many(retry_after: int) -> TooManyAttempts:
    return TooManyAttempts(f"Too many failed attempts; wait {duration(retry_after)} and try again.", retry_after)


def _record_failure(db: Session, settings: Settings, keys: Sequence[Key]) -> int:
    now = utcnow()
    forget_before = now - timedelta(seconds=settings.auth_lockout_seconds)
    existing = {(r.scope, r.key): r for r in _rows(db, keys, for_update=True)}
    rows = []
    for key in keys:
        row = existing.get((key.scope, key.value)) or AuthThrottle(scope=key.scope, key=key.value, failures=0,
                                                                   last_failure_at=now)
        if as_utc(row.last_failure_at) < forget_before:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        free, lockout = _limits(settings, key)
        if row.failures >= lockout:
            row.failures = 0
            row.locked_until = _later(row.locked_until, now + timedelta(seconds=settings.auth_lockout_seconds))
            audit.record(db, audit.SYSTEM_ACTOR, "auth.locked", f"{key.scope} {key.value}", org_id=_org_of(db, key),
                         after="locked", detail={"failures": lockout, "lockedUntil": iso(row.locked_until)})
        elif row.failures > free:
            wait = min(settings.auth_backoff_base_seconds * 2 ** (row.failures - free - 1),
                       settings.auth_lockout_seconds)
            row.locked_until = _later(row.locked_until, now + timedelta(seconds=wait))
        db.add(row)
        rows.append(row)
    db.commit()
    return max((_seconds_left(r, now) for r in rows), default=0)


def _rows(db: Session, keys: Sequence[Key], for_update: bool = False) -> Sequence[AuthThrottle]:
    if not keys:
        return []
    query = select(AuthThrottle).where(or_(*[(col(AuthThrottle.scope) == k.scope) & (col(AuthThrottle.key) == k.value)
                                             for k in keys]))
    if for_update:  # in the order of the primary key, as every worker locks them
        query = query.order_by(col(AuthThrottle.scope), col(AuthThrottle.key)).with_for_update()
    return db.exec(query).all()


def _limits(settings: Settings, key: Key) -> tuple[int, int]:
    if key.scope in _PER_ADDRESS:
        return settings.auth_address_free_failures, settings.auth_address_lockout_failures
    return settings.auth_free_failures, settings.auth_lockout_failures


def _org_of(db: Session, key: Key) -> str | None:
    """The organisation whose audit trail shows the lockout of its account or client; none for an address."""
    if key.scope == ACCOUNT:
        return db.exec(select(User.org_id).where(User.email == key.value)).first()
    if key.scope == CLIENT:
        return db.exec(select(Organisation.id).where(Organisation.client_id == key.value)).first()
    return None


def _waiting(row: AuthThrottle, now: datetime) -> bool:
    return row.locked_until is not None and as_utc(row.locked_until) > now


def _seconds_left(row: AuthThrottle, now: datetime) -> int:
    if row.locked_until is None:
        return 0
    return max(0, math.ceil((as_utc(row.locked_until) - now).total_seconds()))


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or as_utc(current) < candidate else as_utc(current)


def duration(seconds: int) -> str:
    """A wait as people read it: ``12 seconds``, ``15 minutes``."""
    if seconds < 120:
        return f"{max(seconds, 1)} seconds"
    return f"{math.ceil(seconds / 60)} minutes"
