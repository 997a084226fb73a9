"""The one time representation of the portal: aware datetimes in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is taken to be UTC already (that is how SQLite hands them back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime) -> str:
    """RFC 3339 with a ``Z``: ``2026-11-22T14:05:00Z``."""
    return as_utc(value).isoformat().replace("+00:00", "Z")
