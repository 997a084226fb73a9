"""Refusals: every forged, tampered, replayed or out-of-window attempt is refused, logged and counted.

Each refusal is one row in the AAdSys's append-only audit trail (action ``connector.refused``, detail
``{code, subscription, seq}``), a log line, and one count of the Prometheus counter
``aadsys_connector_refusals_total{code}``. ``aadsys connector status`` shows the counts by code.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter

from aadsys.core.audit import record
from aadsys.core.db import Database
from connector._rows import EngineRows
from connector._status import refusal_counts
from connector.codes import REFUSAL_ACTION as ACTION

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
        return refusal_counts(EngineRows(self.db.engine))


