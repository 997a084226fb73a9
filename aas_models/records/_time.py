"""Times in records are aware and kept in UTC, so equal moments render to equal bytes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator


def _text(value: Any) -> Any:
    """Dates and times arrive as ISO 8601 text; a number would be taken as seconds since 1970 and hide a mistake."""
    if isinstance(value, int | float):
        raise ValueError("give ISO 8601 text, e.g. 2026-11-22T10:15:00Z or 2026-11-25, not a number")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_text)]
Day = Annotated[date, BeforeValidator(_text)]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)
