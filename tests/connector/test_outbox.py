"""The provider's outbox (DESIGN §5.4): one numbered delivery per (subscription, instance), moved only along
the delivery table, so that nothing is sent twice as new and nothing is lost silently."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from aadsys.core.inbox import Arrival, Provenance
from aadsys.core.instances import StoredInstance
from aadsys.core.tables import InstanceRow
from aadsys.gateway.context import AadsysContext
from aas_models import Owner, render_instance
from connector.codes import Code
from connector.data import _received as received
from connector.data._outbox import Outbox, Outgoing
from connector.errors import Fallen
from tests.aadsys.conftest import order
from tests.aas_models.records import record
from tests.connector.channel_pair import ManualClock
from tests.connector.conftest import OMIS_IRI, PEC_IRI

SUB = "sub-1"
TTL = 60
FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def outbox(pec: AadsysContext, clock: ManualClock) -> Outbox:
    return Outbox(pec.db, TTL, clock)


def create(ctx: AadsysContext, *order_ids: str) -> list[StoredInstance]:
    return [ctx.instances.create("sales-order", order(order_id))[0] for order_id in order_ids]


def now() -> datetime:
    return datetime.now(UTC)


def receive_from_partner(ctx: AadsysContext, order_id: str, created_at: datetime) -> None:
    """A sales order this AAdSys received from OMIS over a channel of its own, stored through the inbox."""
    partner = Owner("omis", OMIS_IRI)
    rendered = render_instance("sales-order", order(order_id), partner)
    arrival = Arrival(seq=1, asset_type="sales-order", key=rendered.key, revision=1, created_at=created_at,
                      sha256=rendered.sha256, aas_json=rendered.aas_json)
    provenance = Provenance("sub-from-omis", partner, "org-omis")
    ctx.inbox.store(provenance, [(arrival, ctx.inbox.check(provenance, arrival))])


def delivered(outgoing: list[Outgoing]) -> list[tuple[int, str]]:
    return [(o.seq, o.key) for o in outgoing]


def make_all(outbox: Outbox, subscription_id: str = SUB) -> int:
    return outbox.make_realtime(subscription_id, "sales-order", FAR_PAST, FAR_FUTURE)


# -- making real-time deliveries ----------------------------------------------------------------------------------

def test_realtime_deliveries_are_own_records_of_the_type_inside_the_window_in_storage_order(
        pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-BEFORE")
    valid_from = now()
    create(pec, "SO-1")
    pec.instances.create("sales-order-status", record("sales-order-status"))
    create(pec, "SO-2")
    receive_from_partner(pec, "SO-FROM-OMIS", created_at=now())
    create(pec, "SO-3")
    valid_to = now()
    create(pec, "SO-AFTER")

    assert outbox.make_realtime(SUB, "sales-order", valid_from, valid_to) == 3

    assert delivered(outbox.claim(SUB, 0, 100)) == [(1, "SO-1"), (2, "SO-2"), (3, "SO-3")]


def test_a_realtime_window_ends_just_before_valid_to(pec: AadsysContext, outbox: Outbox) -> None:
    """[validFrom, validTo): the grant stops admitting at validTo, so a record created at that instant is not owed."""
    (at_the_end,) = create(pec, "SO-AT-END")

    assert outbox.make_realtime(SUB, "sales-order", at_the_end.created_at, at_the_end.created_at) == 0


def test_outgoing_delivery_carries_the_stored_record(pec: AadsysContext, outbox: Outbox) -> None:
    (stored,) = create(pec, "SO-1")
    make_all(outbox)

    (outgoing,) = outbox.claim(SUB, 0, 10)

    assert (outgoing.instance_id, outgoing.asset_type, outgoing.key, outgoing.revision) == (
        stored.seq, "sales-order", "SO-1", 1)
    assert (outgoing.sha256, outgoing.aas_json, outgoing.created_at) == (
        stored.sha256, stored.aas_json, stored.created_at)


def test_making_realtime_deliveries_again_makes_only_the_new_ones(pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1", "SO-2")
    assert make_all(outbox) == 2
    assert make_all(outbox) == 0

    create(pec, "SO-3")

    assert make_all(outbox) == 1
    assert delivered(outbox.claim(SUB, 0, 100)) == [(1, "SO-1"), (2, "SO-2"), (3, "SO-3")]


def test_each_subscription_numbers_its_deliveries_from_one(pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1")
    make_all(outbox, "sub-a")
    create(pec, "SO-2")
    make_all(outbox, "sub-a")
    make_all(outbox, "sub-b")

    assert delivered(outbox.claim("sub-a", 0, 10)) == [(1, "SO-1"), (2, "SO-2")]
    assert delivered(outbox.claim("sub-b", 0, 10)) == [(1, "SO-1"), (2, "SO-2")]


def test_makers_running_at_once_for_one_subscription_neither_collide_nor_skip(
        pec: AadsysContext, outbox: Outbox) -> None:
    """The commit follower and a consumer's ``subscribe`` both make deliveries, on PostgreSQL in parallel."""
    order_ids = [f"SO-{n:03d}" for n in range(60)]
    start = threading.Barrier(4)

    def follow() -> None:
        start.wait()
        for _ in range(30):
            make_all(outbox)

    def post() -> None:
        start.wait()
        for order_id in order_ids:
            create(pec, order_id)

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(post)] + [pool.submit(follow) for _ in range(3)]:
            done.result()
    make_all(outbox)

    assert delivered(outbox.claim(SUB, 0, 100)) == [(n, order_id) for n, order_id in enumerate(order_ids, 1)]


# -- sending and confirming ---------------------------------------------------------------------------------------

def test_claim_returns_pending_deliveries_after_a_seq_in_order_and_marks_them_sent(
        pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1", "SO-2", "SO-3", "SO-4")
    make_all(outbox)

    assert delivered(outbox.claim(SUB, 1, 2)) == [(2, "SO-2"), (3, "SO-3")]

    figures = outbox.figures(SUB)
    assert (figures.made, figures.last_seq_made) == (4, 4)
    assert (figures.pending, figures.sent, figures.last_seq_sent, figures.stored) == (2, 2, 3, 0)
    assert delivered(outbox.claim(SUB, 0, 10)) == [(1, "SO-1"), (4, "SO-4")]
    assert outbox.claim(SUB, 0, 10) == []


def test_confirm_moves_sent_deliveries_to_stored_and_is_idempotent(pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1", "SO-2", "SO-3")
    make_all(outbox)
    outbox.claim(SUB, 0, 10)

    assert outbox.confirm(SUB, [1, 2]) == 2
    assert outbox.confirm(SUB, [1, 2]) == 0

    figures = outbox.figures(SUB)
    assert (figures.stored, figures.last_seq_stored, figures.sent, figures.pending) == (2, 2, 3, 0)


def test_reopen_sends_again_what_the_consumer_has_not_stored(pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1", "SO-2", "SO-3", "SO-4", "SO-5")
    make_all(outbox)
    outbox.claim(SUB, 0, 10)
    outbox.confirm(SUB, [1, 2, 3])

    assert outbox.reopen(SUB, after_seq=2) == 3  # stored 3 is above what the consumer has; 4 and 5 were in flight

    figures = outbox.figures(SUB)
    assert (figures.pending, figures.stored, figures.last_seq_stored) == (3, 2, 2)
    assert delivered(outbox.claim(SUB, 2, 10)) == [(3, "SO-3"), (4, "SO-4"), (5, "SO-5")]


def test_reopen_leaves_expired_deliveries_expired(pec: AadsysContext, outbox: Outbox, clock: ManualClock) -> None:
    create(pec, "SO-1", "SO-2")
    make_all(outbox)
    outbox.claim(SUB, 0, 1)
    clock.advance(TTL + 1)
    outbox.expire_due()

    assert outbox.reopen(SUB, after_seq=0) == 0
    assert outbox.figures(SUB).expired == 2


# -- expiry -------------------------------------------------------------------------------------------------------

def test_deliveries_not_stored_by_their_ttl_expire_and_are_counted_per_subscription(
        pec: AadsysContext, outbox: Outbox, clock: ManualClock) -> None:
    create(pec, "SO-1", "SO-2", "SO-3")
    make_all(outbox, "sub-a")
    make_all(outbox, "sub-b")
    outbox.claim("sub-a", 0, 2)
    outbox.confirm("sub-a", [1])

    clock.advance(TTL - 5)
    assert outbox.expire_due() == {}
    clock.advance(6)
    assert outbox.expire_due() == {"sub-a": 2, "sub-b": 3}
    clock.advance(1)
    assert outbox.expire_due() == {}

    figures = outbox.figures("sub-a")
    assert (figures.expired, figures.stored, figures.pending) == (2, 1, 0)
    assert outbox.claim("sub-a", 0, 10) == []


def test_late_confirmation_of_an_expired_delivery_stores_it(pec: AadsysContext, outbox: Outbox,
                                                             clock: ManualClock) -> None:
    create(pec, "SO-1", "SO-2")
    make_all(outbox)
    outbox.claim(SUB, 0, 10)
    clock.advance(TTL + 1)
    outbox.expire_due()

    assert outbox.confirm(SUB, [2]) == 1

    figures = outbox.figures(SUB)
    assert (figures.expired, figures.stored, figures.last_seq_stored) == (1, 1, 2)


# -- historical ranges --------------------------------------------------------------------------------------------

def backdate(ctx: AadsysContext, key: str, created_at: datetime) -> None:
    """Give a stored record another createdAt (test data: storage order and createdAt order then differ)."""
    table = InstanceRow.__table__  # type: ignore[attr-defined]
    with ctx.db.write_session() as session:
        session.execute(update(table).where(table.c.instance_key == key).values(created_at=created_at))
        session.commit()


def test_history_makes_a_range_in_created_at_order_in_batches_then_zero(pec: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1", "SO-2", "SO-3", "SO-4", "SO-5")
    pec.instances.create("sales-order-status", record("sales-order-status"))
    receive_from_partner(pec, "SO-FROM-OMIS", created_at=datetime(2026, 3, 1, tzinfo=UTC))
    for day, key in [(5, "SO-1"), (2, "SO-2"), (4, "SO-3"), (3, "SO-4"), (9, "SO-5")]:
        backdate(pec, key, datetime(2026, 3, day, tzinfo=UTC))
    range_from, range_to = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)

    batches = [outbox.make_history(SUB, "sales-order", range_from, range_to, limit=2) for _ in range(4)]

    assert batches == [2, 2, 0, 0]
    assert delivered(outbox.claim(SUB, 0, 100)) == [(1, "SO-2"), (2, "SO-4"), (3, "SO-3"), (4, "SO-1")]


def test_history_batches_neither_skip_nor_repeat_records_created_at_the_same_moment(
        pec: AadsysContext, outbox: Outbox) -> None:
    keys = ["SO-1", "SO-2", "SO-3", "SO-4", "SO-5"]
    create(pec, *keys)
    for key in keys:
        backdate(pec, key, datetime(2026, 3, 1, 12, tzinfo=UTC))

    outbox = Outbox(pec.db, TTL, ManualClock())
    made = [outbox.make_history(SUB, "sales-order", FAR_PAST, FAR_FUTURE, limit=2) for _ in range(4)]

    assert made == [2, 2, 1, 0]
    assert delivered(outbox.claim(SUB, 0, 100)) == list(enumerate(keys, start=1))


# -- the digest both sides report ----------------------------------------------------------------------------------

def test_provider_digest_of_confirmed_deliveries_equals_the_consumers_digest_of_what_it_stored(
        pec: AadsysContext, omis_sqlite: AadsysContext, outbox: Outbox) -> None:
    create(pec, "SO-1", "SO-2", "SO-3")
    make_all(outbox)
    provenance = Provenance(SUB, Owner("pec", PEC_IRI), "org-pec")
    sent = outbox.claim(SUB, 0, 100)
    arrivals = [Arrival(o.seq, o.asset_type, o.key, o.revision, o.created_at, o.sha256, o.aas_json) for o in sent]
    omis_sqlite.inbox.store(provenance, [(a, omis_sqlite.inbox.check(provenance, a)) for a in arrivals])
    assert outbox.digest(SUB)[0] == 0  # nothing confirmed yet

    outbox.confirm(SUB, [o.seq for o in sent])

    count, digest = outbox.digest(SUB)
    assert (count, digest) == received.digest(omis_sqlite.db, SUB)
    assert count == 3 and digest.startswith("sha256:")
    assert received.figures(omis_sqlite.db, SUB) == received.ConsumerFigures(stored=3, last_seq=3)


# -- a subscription ended here -------------------------------------------------------------------------------------

def _ledger_row(ctx: AadsysContext, state: str) -> None:
    from connector.control._ledger import Ledger
    from connector.spi import Role

    Ledger(ctx.db).upsert({"id": SUB, "assetId": "asset-1", "assetType": "sales-order", "mode": "realtime",
                           "validFrom": FAR_PAST.isoformat(), "validTo": FAR_FUTURE.isoformat(), "state": state,
                           "providerOrgId": "org-pec", "consumerOrgId": "org-omis", "providerName": "PEC",
                           "consumerName": "OMIS"}, Role.PROVIDER, "org-pec")


def test_nothing_is_handed_out_to_send_once_the_ledger_holds_the_subscription_ended(
        pec: AadsysContext, outbox: Outbox) -> None:
    """From the commit that ends it (a revocation from the portal, or `aadsys connector revoke` in another process),
    no record leaves, even while its flow still runs: new ones and ones to send again alike."""
    _ledger_row(pec, "active")
    create(pec, "SO-1", "SO-2")
    make_all(outbox)
    (first,) = outbox.claim(SUB, 0, 1)
    with pec.db.write_session() as session:
        from connector.tables import SubscriptionRow

        row = session.get(SubscriptionRow, SUB)
        assert row is not None
        row.state = "revoked"
        session.add(row)
        session.commit()
    for hand_out in (lambda: outbox.claim(SUB, first.seq, 10), lambda: outbox.again(SUB, [first.seq])):
        with pytest.raises(Fallen) as ended:
            hand_out()
        assert ended.value.code is Code.REVOKED
