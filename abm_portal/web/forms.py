"""Turning form text into values, with a message per field that says what to fix."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

FieldErrors = dict[str, str]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def form_field(service_field: str | None, known: tuple[str, ...], default: str = "_form") -> str:
    """The form field a service's ``ValidationFailed.field`` names: ``validTo`` → ``valid_to``."""
    if not service_field:
        return default
    name = _CAMEL.sub("_", service_field.split(".")[-1]).lower()
    if name in known:
        return name
    for candidate in known:
        if candidate.endswith(name) or name.endswith(candidate):
            return candidate
    return default


def parse_datetime_local(value: str) -> datetime:
    """An ``<input type=datetime-local>`` value (``2026-11-22T14:00``), read as UTC (the form says so)."""
    parsed = datetime.fromisoformat(value.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def datetime_local(value: datetime) -> str:
    """The value an ``<input type=datetime-local>`` shows for ``value``, in UTC, to the minute."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M")


def parse_day(value: str) -> date:
    return date.fromisoformat(value.strip())


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def day_end(day: date) -> datetime:
    """The first instant after ``day``, so a ``to`` date includes the whole day."""
    return day_start(day) + timedelta(days=1)
