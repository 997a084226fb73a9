"""The one way the portal's pages write a time: UTC, to the second, ``2026-12-07 05:43:05Z``.

Every page, and the live refresh's "updated" note, shows times this way, so no time on a page is in the
browser's zone or at another precision. The REST API keeps RFC 3339 (``abm_portal.clock.iso``).
"""

from __future__ import annotations

from datetime import UTC, datetime


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text  # not a timestamp: shown as it is
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%SZ")
