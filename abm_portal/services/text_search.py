"""Catalog text search: every whitespace-separated term must occur, case-insensitively, in one of the columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, true

MAX_TERMS = 10
MAX_TERM_LENGTH = 100


def terms(q: str | None) -> list[str]:
    """The search terms of ``q``: lower-cased, at most ``MAX_TERMS`` of at most ``MAX_TERM_LENGTH`` characters."""
    return [t[:MAX_TERM_LENGTH] for t in (q or "").lower().split()][:MAX_TERMS]


def every_term_matches(q: str | None, columns: list[Any]) -> ColumnElement[bool]:
    """A condition true where each term is a substring of at least one of ``columns`` (JSON ones as text)."""
    texts = [func.lower(cast(c, String)) for c in columns]
    conditions = [or_(*(t.like(f"%{_escape(term)}%", escape="\\") for t in texts)) for term in terms(q)]
    return and_(*conditions) if conditions else true()


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
