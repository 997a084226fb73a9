"""Refusals are counted without amplification: whoever proved nothing is written once per source, code and
minute; a partner's refusals on its admitted channel keep rows of their own, a bounded number per minute."""

from __future__ import annotations

from sqlalchemy import func, select

from aadsys.core.tables import AuditRow
from aadsys.gateway.context import AadsysContext
from connector._metrics import ConnectorMetrics
from connector._refusals import MAX_SOURCES, ROWS_PER_MINUTE, Refusals
from connector.spi import Role
from tests.connector.channel_pair import ManualClock
from tests.support.prometheus import sample

PROVIDER = Role.PROVIDER


def rows(pec: AadsysContext) -> int:
    with pec.db.session() as session:
        return int(session.execute(select(func.count()).select_from(AuditRow)).scalar_one())


def test_unproven_refusals_are_one_row_per_source_and_code_each_minute(pec: AadsysContext) -> None:
    clock = ManualClock()
    refusals = Refusals(pec.db, ConnectorMetrics(pec.metrics), clock.monotonic)
    before = rows(pec)
    for n in range(3000):
        refusals.record("bad-signature", "forged", side=PROVIDER, peer=f"10.0.0.{n % 3}", subscription_id="claimed",
                        proven=False)

    assert rows(pec) == before and refusals.flush() == 0  # nothing written within the minute
    clock.advance(60)
    refusals.record("stale-nonce", "late", side=PROVIDER, peer="10.0.0.9", proven=False)  # the next minute's first

    assert rows(pec) == before + 3
    assert refusals.counts() == {"bad-signature": 3000, "stale-nonce": 1}
    shown = pec.metrics.exposition().decode()  # Prometheus counts each one at once, written or not
    assert sample(shown, "aadsys_connector_refusals_total", code="bad-signature", side="provider") == 3000
    assert sample(shown, "aadsys_connector_refusals_total", code="stale-nonce", side="provider") == 1


def test_proven_refusals_keep_their_own_rows_up_to_a_bound_per_minute(pec: AadsysContext) -> None:
    refusals = Refusals(pec.db, ConnectorMetrics(pec.metrics), ManualClock().monotonic)
    before = rows(pec)
    for seq in range(ROWS_PER_MINUTE + 30):
        refusals.record("replayed", "an old seq", side=PROVIDER, subscription_id="sub-1", seq=seq, peer="omis")

    assert rows(pec) == before + ROWS_PER_MINUTE
    assert refusals.flush(everything=True) == 1
    assert rows(pec) == before + ROWS_PER_MINUTE + 1
    assert refusals.counts() == {"replayed": ROWS_PER_MINUTE + 30}


def test_sources_beyond_the_bound_are_counted_together(pec: AadsysContext) -> None:
    refusals = Refusals(pec.db, ConnectorMetrics(pec.metrics), ManualClock().monotonic)
    before = rows(pec)
    for n in range(MAX_SOURCES + 500):
        refusals.record("malformed-auth", "junk", side=PROVIDER, peer=f"source-{n}", proven=False)

    assert refusals.flush(everything=True) == MAX_SOURCES + 1
    assert rows(pec) == before + MAX_SOURCES + 1
    assert refusals.counts() == {"malformed-auth": MAX_SOURCES + 500}
