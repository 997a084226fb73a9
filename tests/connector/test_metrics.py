"""The connector's Prometheus figures (``connector._metrics``, ``connector._subscription_figures``), read off each
AAdSys's ``/metrics`` exposition while the in-memory channel pair works: deliveries made, sent, stored and received,
channels up and down, refusals by code and side, link uses, leases, and what a scrape reads from ledger and outbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, text
from sqlalchemy import event as sqlalchemy_event

from aadsys.gateway.context import AadsysContext
from connector._leases import LeaseKeeper, LeaseLost, Leases
from connector._metrics import ConnectorMetrics
from connector.codes import Code
from connector.control._ledger import Ledger
from connector.errors import ChannelRefused
from connector.spi import Role, SubscriptionState
from tests.connector.channel_pair import (
    OMIS_ORG,
    PEC_ORG,
    SUB,
    ManualClock,
    Pair,
    connected,
    handshake,
    outbox,
    settle,
    until,
)
from tests.connector.conftest import PEC_IRI
from tests.support.databases import AadsysTemplates
from tests.support.postgres import PostgresServer
from tests.support.prometheus import sample

pytestmark = pytest.mark.anyio
N = 5
DELIVERIES = "aadsys_connector_deliveries_total"
CHANNEL_UP = "aadsys_connector_channel_up"
REFUSALS = "aadsys_connector_refusals_total"
ACTIVE = "aadsys_connector_subscription_active"
LAG = "aadsys_connector_lag_seqs"


async def test_n_records_stored_count_n_made_sent_and_stored_at_the_provider_and_n_received_at_the_consumer(
        pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    await pair.post(*(f"M-{n}" for n in range(N)))

    await until(lambda: pair.figure("pec", DELIVERIES, subscription=SUB, event="stored") == N,
                what=f"{N} deliveries counted stored")

    assert [pair.figure("pec", DELIVERIES, subscription=SUB, event=e) for e in ("made", "sent")] == [N, N]
    assert pair.figure("pec", DELIVERIES, subscription=SUB, event="resent") is None
    assert pair.figure("omis", DELIVERIES, subscription=SUB, event="received") == N
    sent = pair.figure("pec", "aadsys_connector_bytes_total", direction="sent")
    assert sent and sent == pair.figure("omis", "aadsys_connector_bytes_total", direction="received")


async def test_a_record_the_consumer_has_already_is_received_once(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.hold_stored = True  # tier 2 does not come: the record goes again, and the consumer has it already
    await pair.post("D-1")
    await until(lambda: pair.stored_keys() == ["D-1"], what="the record at the consumer")

    pair.clock.advance(pair.provider.settings.resend_after_seconds + 1)
    await until(lambda: pair.figure("pec", DELIVERIES, subscription=SUB, event="resent") == 1, what="the re-send")
    await conn.release_stored()
    await until(lambda: outbox(pair).stored == 1, what="the confirmation")

    assert pair.figure("omis", DELIVERIES, subscription=SUB, event="received") == 1


async def test_channel_up_is_one_on_both_sides_while_connected_and_zero_after(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    await connected(pair)
    await until(lambda: pair.figure("omis", CHANNEL_UP, subscription=SUB, role="consumer") == 1,
                what="the consumer's channel up")
    assert pair.figure("pec", CHANNEL_UP, subscription=SUB, role="provider") == 1
    await settle()  # the provider's sender is under way

    await pair.consumer.terminate(SUB, Code.REVOKED, "the subscription was revoked")

    await until(lambda: pair.figure("pec", CHANNEL_UP, subscription=SUB, role="provider") == 0,
                what="the provider's channel down")
    assert pair.figure("omis", CHANNEL_UP, subscription=SUB, role="consumer") == 0


async def test_each_refusal_counts_once_by_code_and_side(pair: Pair) -> None:
    forged = pair.grant(SUB, key=ECKey.generate_key("P-256"), kid=pair.portal_key.thumbprint())
    with pytest.raises(ChannelRefused):
        await handshake(pair, forged)
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.tamper = lambda event, data: {**data, "seq": 7} if event == "instance" else data
    await pair.post("R-1")
    await until(lambda: pair.refused("omis"), what="the consumer's refusal")

    assert pair.figure("pec", REFUSALS, code="bad-signature", side="provider") == 1
    assert pair.figure("omis", REFUSALS, code="replayed", side="consumer") == 1
    assert pair.figure("pec", REFUSALS, side="consumer") is None


@pytest.mark.tuning(inline_limit_bytes=0)
async def test_one_time_link_uses_count_by_kind_and_result(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    await pair.post("BIG-1")
    await until(lambda: outbox(pair).stored == 1, what="the record, by link")

    assert pair.figure("pec", "aadsys_connector_link_downloads_total", kind="payload", result="ok") == 1
    with pytest.raises(Exception, match="no such link"):
        await pair.provider.download("not-a-token", "no-proof")
    assert pair.figure("pec", "aadsys_connector_link_downloads_total", kind="unknown", result="not-found") == 1


@pytest.mark.tuning(delivery_ttl_seconds=60)
async def test_deliveries_past_their_ttl_count_as_expired(pair: Pair) -> None:
    await pair.provider.reconcile([as_provider(pair)])  # the consumer is away: deliveries are owed all the same
    await pair.post("X-1", "X-2")
    await until(lambda: pair.figure("pec", DELIVERIES, subscription=SUB, event="made") == 2, what="2 made")

    pair.clock.advance(61)
    assert await pair.provider.expire_due() == {SUB: 2}

    assert pair.figure("pec", DELIVERIES, subscription=SUB, event="expired") == 2
    assert pair.figure("pec", CHANNEL_UP, subscription=SUB, role="provider") == 0  # a flow, and nobody attached


async def test_lag_and_active_are_read_from_the_ledger_and_the_outbox_at_each_scrape(pair: Pair) -> None:
    pair.record_at_provider(SUB, "active")
    await pair.provider.reconcile([as_provider(pair)])
    await pair.post(*(f"L-{n}" for n in range(N)))
    await until(lambda: outbox(pair).made == N, what=f"{N} deliveries made, the consumer away")
    assert pair.figure("pec", LAG, subscription=SUB) == N
    assert pair.figure("pec", ACTIVE, subscription=SUB, role="provider") == 1

    await pair.consume(pair.view(SUB))
    await until(lambda: pair.figure("pec", LAG, subscription=SUB) == 0, what="the consumer caught up")

    pair.record_at_provider(SUB, "revoked")
    assert pair.figure("pec", ACTIVE, subscription=SUB, role="provider") == 0
    assert pair.figure("pec", LAG, subscription=SUB) is None  # an ended subscription has no lag to watch


async def test_a_real_time_subscription_is_active_only_inside_its_window_and_a_historical_one_throughout(
        pair: Pair) -> None:
    now = pair.clock.now()
    consumer_ledger = Ledger(pair.omis.db)
    for sub_id, mode, start, end in (("later", "realtime", now + timedelta(days=1), now + timedelta(days=2)),
                                     ("now", "realtime", now - timedelta(days=1), now + timedelta(days=1)),
                                     ("past", "historical", now - timedelta(days=9), now - timedelta(days=8))):
        consumer_ledger.upsert(subscription(sub_id, mode, start.isoformat(), end.isoformat()), Role.CONSUMER,
                               OMIS_ORG)

    shown = pair.omis.metrics.exposition().decode()

    assert [sample(shown, ACTIVE, subscription=s, role="consumer") for s in ("later", "now", "past")] == [0, 1, 1]
    assert sample(shown, LAG) is None  # lag is the provider's figure


def test_a_lease_taken_over_and_the_old_holders_fenced_write_are_counted(pec_sqlite: AadsysContext) -> None:
    clock, metrics = ManualClock(), ConnectorMetrics(pec_sqlite.metrics)
    paused, successor = (Leases(pec_sqlite.db, worker, 10, clock, metrics) for worker in ("w-1", "w-2"))
    fence = paused.take(SUB, "provider")
    assert fence is not None
    clock.advance(11)  # w-1 paused past its lease

    assert successor.take(SUB, "provider") is not None
    with pytest.raises(LeaseLost), pec_sqlite.db.write_session() as session:
        fence.check(session)

    shown = pec_sqlite.metrics.exposition().decode()
    assert sample(shown, "aadsys_connector_lease_takeovers_total") == 1
    assert sample(shown, "aadsys_connector_fenced_writes_total") == 1


def _taken_over_while_paused(pec: AadsysContext) -> tuple[Leases, LeaseKeeper, list[str]]:
    """Worker w-1 holds the provider lease of SUB and is paused past it; w-2 has taken it over. Returns w-1's
    leases, its keeper, and the subjects the keeper reports lost."""
    clock, metrics = ManualClock(), ConnectorMetrics(pec.metrics)
    paused, successor = (Leases(pec.db, worker, 10, clock, metrics) for worker in ("w-1", "w-2"))
    keeper, lost = LeaseKeeper(paused, clock), []

    async def took(subject: str, fence: object) -> None: ...

    async def gone(subject: str) -> None:
        lost.append(subject)

    keeper.serve("provider", taken=took, lost=gone)
    fence = paused.take(SUB, "provider")
    assert fence is not None
    keeper.held[(SUB, "provider")] = fence
    clock.advance(11)  # w-1 paused past its lease
    assert successor.take(SUB, "provider") is not None
    return paused, keeper, lost


def test_a_woken_holders_refused_renewal_is_counted_as_a_fenced_write(pec_sqlite: AadsysContext) -> None:
    """A paused worker may learn of the take-over at its next renewal, before any other write: that renewal is the
    write its fence refused, counted as one."""
    paused, keeper, lost = _taken_over_while_paused(pec_sqlite)

    asyncio.run(keeper._renew())  # w-1 wakes: its next renewal finds the lease gone

    assert (lost, keeper.fence(SUB, "provider"), paused.refused) == ([SUB], None, 1)
    assert sample(pec_sqlite.metrics.exposition().decode(), "aadsys_connector_fenced_writes_total") == 1


def test_a_renewal_on_a_connection_the_database_dropped_is_made_again_at_once_and_counts_the_refusal(
        aadsys_templates: AadsysTemplates, postgres_server: PostgresServer, tmp_path: Path) -> None:
    """PostgreSQL ended the paused worker's connection (``idle_in_transaction_session_timeout``, a restart): the
    first renewal after it wakes fails on that connection, the next one on a fresh connection finds the lease
    gone and counts it. Giving the lease up for the dropped connection alone would count nothing."""
    pec = AadsysContext.build(aadsys_templates.settings(tmp_path / "pec-pg", "pec", PEC_IRI, postgresql=True))
    try:
        paused, keeper, lost = _taken_over_while_paused(pec)
        with pec.db.engine.connect() as connection:  # the pool's most recent connection: the renewal's next
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = create_engine(postgres_server.url())
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
        admin.dispose()

        asyncio.run(keeper._renew())

        assert (lost, keeper.fence(SUB, "provider"), paused.refused) == ([SUB], None, 1)
    finally:
        pec.db.dispose()


def as_provider(pair: Pair) -> Any:
    return replace(pair.view(SUB), role=Role.PROVIDER, state=SubscriptionState.ACTIVE)


def subscription(sub_id: str, mode: str, valid_from: str, valid_to: str) -> dict[str, Any]:
    """The portal's view of an approved subscription OMIS consumes."""
    return {"id": sub_id, "consumerOrgId": OMIS_ORG, "providerOrgId": PEC_ORG, "consumerName": "OMIS",
            "providerName": "PEC", "assetId": "asset-1", "assetType": "sales-order", "mode": mode,
            "validFrom": valid_from, "validTo": valid_to, "state": "approved"}


class _Listening:
    """Notices from other workers as ``LeaseKeeper`` sees them: a listener that is connected."""

    connected = True

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def listen(self, channel: str, handler: Any) -> None:
        self.handlers.append(handler)


def test_a_holder_learns_what_was_asked_of_it_at_its_renewal_or_from_a_notice_and_asks_nothing_else_meanwhile(
        pec_sqlite: AadsysContext) -> None:
    """An idle worker's keeper costs its renewal: it looks for leases asked of it between renewals only when a
    notice says that one was (PostgreSQL's ``NOTIFY``), and hands them over."""
    clock, metrics, notices = ManualClock(), ConnectorMetrics(pec_sqlite.metrics), _Listening()
    holder, asker = (Leases(pec_sqlite.db, worker, 10, clock, metrics) for worker in ("w-1", "w-2"))
    keeper = LeaseKeeper(holder, clock, notices)  # type: ignore[arg-type]

    async def took(subject: str, fence: object) -> None: ...

    async def gone(subject: str) -> None: ...

    keeper.serve("provider", taken=took, lost=gone)
    keeper.want("provider", [SUB, "sub-2"])
    for subject in (SUB, "sub-2"):
        fence = holder.take(subject, "provider")
        assert fence is not None
        keeper.held[(subject, "provider")] = fence
    statements: list[str] = []
    sqlalchemy_event.listen(pec_sqlite.db.engine, "before_cursor_execute",
                            lambda conn, cursor, statement, *rest: statements.append(statement))

    def looks() -> int:
        """Reads of what was asked of this worker, other than its renewal."""
        return sum(s.lstrip().startswith("SELECT") and "wanted_by IS NOT NULL" in s for s in statements)

    def held() -> set[str]:
        return {subject for subject, _ in keeper.held}

    async def rounds() -> None:
        await keeper._renew()
        await keeper._hand_over()
        assert (looks(), held()) == (0, {SUB, "sub-2"})  # nothing asked, nothing read but the renewal
        asker.want(SUB, "provider")  # w-2 asks (and would announce it) ...
        await keeper._hand_over()
        assert (looks(), held()) == (0, {SUB, "sub-2"})  # ... no notice yet: w-1 reads nothing, keeps it
        notices.handlers[0]("provider|" + SUB)  # the notice
        await keeper._hand_over()
        assert (looks(), held()) == (1, {"sub-2"})  # one look, and it is handed over
        asker.want("sub-2", "provider")  # asked, and the notice lost: the next renewal tells
        await keeper._renew()
        await keeper._hand_over()
        assert (looks(), held()) == (1, set())

    asyncio.run(rounds())
    assert asker.take(SUB, "provider") is not None and asker.take("sub-2", "provider") is not None
