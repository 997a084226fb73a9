"""Append-only audit trail: rows are only ever added, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from aadsys.core.tables import AuditRow


def record(session: Session, *, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    session.add(AuditRow(actor=actor, action=action, subject=subject, detail=detail or {}))
