"""Refusals: every forged, tampered, replayed or out-of-window attempt is refused, logged and counted.

Each refusal is one row in the AAdSys's append-only audit trail (action ``connector.refused``, detail
``{code, subscription, seq}``), a log line, and one count of the Prometheus counter
``aadsys_connector_refusals_total{code}``. ``aadsys connector status`` shows the counts by code.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select

from aadsys.core.audit import record
from aadsys.core.db import Database
from aadsys.core.tables import AuditRow

ACTION = "connector.refused"
log = logging.getLogger("connector")
_REFUSALS = Counter("aadsys_connector_refusals_total", "Refused channel attempts, messages and link uses", ["code"])


class Refusals:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, code: str, reason: str, *, subscription_id: str | None = None, seq: int | None = None,
               peer: str | None = None) -> None:
        """Blocking (one small write): call it in a thread from async code."""
        detail: dict[str, Any] = {"code": code, "reason": reason}
        detail.update({k: v for k, v in (("subscription", subscription_id), ("seq", seq), ("peer", peer)) if v})
        log.warning("refused %s: %s (subscription %s, seq %s)", code, reason, subscription_id, seq)
        _REFUSALS.labels(code=code).inc()
        with self.db.write_session() as session:
            record(session, actor=peer or "connector", action=ACTION, subject=subscription_id or "-", detail=detail)
            session.commit()

    def counts(self) -> dict[str, int]:
        """Refusals so far, by code, from the audit trail (so they survive restarts)."""
        with self.db.session() as session:
            rows = session.execute(select(AuditRow.detail).where(AuditRow.action == ACTION)).scalars().all()  # type: ignore[call-overload]
        return dict(Tally(str(detail.get("code")) for detail in rows))


