"""Refusals: every forged, tampered, replayed, flooding or out-of-window attempt is refused, logged and counted,
without letting anyone who can reach the port grow the audit trail at will.

- A refusal of someone who proved nothing (a junk challenge, a forged grant, a link token with a wrong proof)
  is counted in memory per source and code, and written once a minute as one row per (source, code) with its
  ``count``. At most ``MAX_SOURCES`` sources are told apart per minute; the rest count under ``"others"``.
- A refusal on an admitted channel or of a proven link use names its subscription and keeps a row of its own
  (action ``connector.refused``, detail ``{code, reason, subscription, seq, peer}``), up to ``ROWS_PER_MINUTE``
  per subscription and minute; beyond that it joins the minute's aggregate rows too.

Every refusal counts at once, here and only here, in the Prometheus counter
``aadsys_connector_refusals_total{code, side}`` (``connector._metrics``) and, through the audit rows, in
``aadsys connector status`` (a row's ``count`` says how many it stands for). ``flush`` writes
the aggregates (the connector's housekeeping calls it each second: rows go out each minute, and all at stop).
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from aadsys.core.audit import record
from aadsys.core.db import Database
from connector._metrics import ConnectorMetrics
from connector._rows import EngineRows
from connector._status import refusal_counts
from connector.codes import REFUSAL_ACTION as ACTION
from connector.spi import Role

log = logging.getLogger("connector")
MINUTE = 60.0
ROWS_PER_MINUTE = 20  # own rows per subscription and minute
MAX_SOURCES = 1000  # sources told apart per minute
OTHERS = "others"


class Refusals:
    def __init__(self, db: Database, metrics: ConnectorMetrics,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db, self.metrics, self.monotonic = db, metrics, monotonic
        self._minute_from = monotonic()
        self._aggregate: Tally[tuple[str, str]] = Tally()  # (source, code) -> refusals this minute
        self._sources: set[str] = set()  # the sources told apart this minute
        self._rows: Tally[str] = Tally()  # subscription -> own rows written this minute
        self._logged: set[tuple[str, str]] = set()

    def record(self, code: str, reason: str, *, side: Role, subscription_id: str | None = None,
               seq: int | None = None, peer: str | None = None, proven: bool = True) -> None:
        """One refusal by our ``side`` of the channel: its own row if it is ``proven`` (an admitted channel, a link
        use with the consumer's proof: ``subscription_id`` is then known, not claimed) and that subscription's
        rows of the minute last; else counted into the minute's aggregate. Blocking (a small write at most): call
        it in a thread."""
        code = str(code)  # a Code is a str subclass; JSON and audit details want the plain value
        self.metrics.refused(code, side)
        self._roll()
        if proven and subscription_id is not None and self._rows[subscription_id] < ROWS_PER_MINUTE:
            self._rows[subscription_id] += 1
            log.warning("refused %s: %s (subscription %s, seq %s)", code, reason, subscription_id, seq)
            detail: dict[str, Any] = {"code": code, "reason": reason}
            detail.update({k: v for k, v in (("subscription", subscription_id), ("seq", seq), ("peer", peer)) if v})
            with self.db.write_session() as session:
                record(session, actor=peer or "connector", action=ACTION, subject=subscription_id, detail=detail)
                session.commit()
            return
        source = (subscription_id if proven else None) or peer or "-"
        if source not in self._sources and len(self._sources) >= MAX_SOURCES:
            source = OTHERS
        self._sources.add(source)
        if (source, code) not in self._logged:  # one log line per source and code and minute
            self._logged.add((source, code))
            log.warning("refused %s from %s: %s (further ones this minute are counted, not logged)", code, source,
                        reason)
        self._aggregate[(source, code)] += 1

    def flush(self, *, everything: bool = False) -> int:
        """Write the aggregate rows of a minute that has passed (or, with ``everything``, of this one too);
        returns how many rows were written."""
        if not everything and self.monotonic() - self._minute_from < MINUTE:
            return 0
        aggregate, self._aggregate, self._sources = self._aggregate, Tally(), set()
        self._rows, self._logged, self._minute_from = Tally(), set(), self.monotonic()
        if not aggregate:
            return 0
        with self.db.write_session() as session:
            for (source, code), count in sorted(aggregate.items()):
                record(session, actor=source, action=ACTION, subject="-",
                       detail={"code": code, "reason": "refusals of one source in one minute", "count": count,
                               "peer": source})
            session.commit()
        return len(aggregate)

    def unwritten(self) -> dict[str, int]:
        """Refusals counted this minute and not yet written, by code."""
        found: Tally[str] = Tally()
        for (_, code), count in self._aggregate.items():
            found[code] += count
        return dict(found)

    def counts(self) -> dict[str, int]:
        """Refusals so far, by code: the audit trail's (so they survive restarts) and this minute's unwritten."""
        found = Tally(refusal_counts(EngineRows(self.db.engine)))
        found.update(self.unwritten())
        return dict(found)

    def _roll(self) -> None:
        if self.monotonic() - self._minute_from >= MINUTE:
            self.flush()
