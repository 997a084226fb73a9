"""The connector's status is read with plain SQL (no ORM, so ``aadsys connector status`` starts fast): on SQLite
through the standard library, elsewhere through SQLAlchemy Core; both give what the ORM stored, times as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aadsys.core.db import Database
from aadsys.metrics import Metrics
from connector._identity import load_or_create
from connector._metrics import ConnectorMetrics
from connector._refusals import Refusals
from connector._rows import EngineRows, SqliteRows, open_rows
from connector._status import collect_status
from connector.codes import Code
from connector.control._ledger import Ledger
from connector.control._trust import Trust
from connector.data._history import HistoryJobs
from connector.data._states import HistoryState
from connector.spi import Role
from tests.support.databases import AadsysTemplates


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_status_reads_what_the_connector_stored_on_either_database(kind: str, tmp_path: Path,
                                                                   aadsys_templates: AadsysTemplates) -> None:
    settings = aadsys_templates.settings(tmp_path / "omis", "omis", "https://omis.example",
                                         postgresql=kind == "postgresql", portal_url="http://127.0.0.1:9")
    start = datetime(2026, 11, 1, 8, 0, 0, 250000, tzinfo=UTC)
    db = Database(settings.resolved_database_url)
    try:
        Ledger(db).upsert({"id": "s-1", "assetId": "a-1", "assetType": "sales-order", "mode": "historical",
                           "validFrom": start.isoformat(), "validTo": (start + timedelta(days=1)).isoformat(),
                           "state": "rejected", "reason": "not this month", "providerOrgId": "o-pec",
                           "providerName": "PEC"}, Role.CONSUMER, "o-omis")
        HistoryJobs(db).open("s-1", Role.CONSUMER, start, start + timedelta(days=1))
        HistoryJobs(db).move("s-1", HistoryState.FAILED, reason="digests differ")
        Refusals(db, ConnectorMetrics(Metrics())).record(Code.STALE_NONCE, "late", side=Role.CONSUMER,
                                                          subscription_id="s-1")
    finally:
        db.dispose()

    rows = open_rows(settings.resolved_database_url)
    assert isinstance(rows, SqliteRows if kind == "sqlite" else EngineRows)
    try:
        report = collect_status(settings, rows, Trust(), load_or_create(tmp_path / "keys"), portal_reachable=None)
    finally:
        rows.close()
    (sub,) = report["subscriptions"]
    assert (sub["id"], sub["role"], sub["peer"], sub["state"], sub["reason"], sub["live"]) == (
        "s-1", "consumer", "PEC", "rejected", "not this month", False)
    assert (sub["validFrom"], sub["validTo"]) == ("2026-11-01T08:00:00.250000Z", "2026-11-02T08:00:00.250000Z")
    assert (sub["stored"], sub["lastSeqStored"]) == (0, 0)
    assert sub["history"] == {"state": "failed", "total": None, "count": None, "digest": None,
                              "reason": "digests differ"}
    assert report["refused"] == {Code.STALE_NONCE: 1}
