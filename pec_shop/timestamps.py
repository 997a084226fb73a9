"""The one way the shop's pages write a time: UTC, to the second, ``2026-12-07 05:43:05Z``.

The JSON API keeps ISO 8601 as it is (with the milliseconds or microseconds of wherever a time came from); a
person reading a page sees every time at the same precision.
"""

from __future__ import annotations

from datetime import UTC, datetime


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text  # not a time: shown as it came
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%SZ")
