"""The time window of OEE and trace queries, from ``from``/``to`` (ISO 8601) or ``minutes`` query parameters."""

from __future__ import annotations

from datetime import datetime, timedelta

from omis_line.clock import parse_iso, utcnow

DEFAULT_MINUTES = 15.0


class WindowInvalid(ValueError):
    """``errors`` maps each bad parameter to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def moment(name: str, text: str | None, errors: dict[str, str]) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_iso(text)
    except ValueError:
        errors[name] = f"'{text}' is not an ISO 8601 datetime; write e.g. 2026-11-22T10:15:00Z"
        return None


def parse_window(start_text: str | None, end_text: str | None, minutes_text: str | None = None,
                 now: datetime | None = None) -> tuple[datetime, datetime]:
    """[from, to]: given bounds win; a missing ``to`` is now, a missing ``from`` is ``minutes`` (default 15)
    before ``to``."""
    errors: dict[str, str] = {}
    start, end = moment("from", start_text, errors), moment("to", end_text, errors)
    minutes = DEFAULT_MINUTES
    if minutes_text is not None and minutes_text.strip():
        try:
            minutes = float(minutes_text)
            if not 0 < minutes <= 525_600:
                raise ValueError
        except ValueError:
            errors["minutes"] = "minutes must be a number greater than 0 and at most 525600 (a year)"
    if errors:
        raise WindowInvalid(errors)
    end = end or now or utcnow()
    start = start or end - timedelta(minutes=minutes)
    if start >= end:
        raise WindowInvalid({"from": "from must be before to"})
    return start, end
