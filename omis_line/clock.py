"""Time in one place: aware UTC datetimes inside, ISO 8601 with milliseconds and ``Z`` on the wire, and on the operator
page UTC to the second (``2026-12-07 05:43:05Z``), the same precision for every time a person reads."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, to the millisecond: what is stored is exactly what the wire shows, so ranges built from shown times
    find the rows they came from."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 datetime; one without a zone is taken as UTC. Raises ValueError when it is not one."""
    text = text.strip().replace("Z", "+00:00")
    if "T" in text:  # a '+' of an offset that a query string turned into a space
        text = text.replace(" ", "+")
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(moment: datetime | str | None) -> str:
    """A time as the operator page shows it: ``2026-12-07 05:43:05Z``; a wire time (``iso``) is read first."""
    if moment is None or moment == "":
        return "–"
    if isinstance(moment, str):
        text = moment
        try:
            moment = parse_iso(text)
        except ValueError:
            return text  # not a time: shown as it came
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
