"""A partner with a valid grant that misbehaves, in memory (``channel_pair``): records after a revocation, floods
of events, malformed events and handshake storms. None of it leaks a record, stalls the provider or writes an
audit row per attempt."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aadsys.core.tables import AuditRow
from connector._refusals import Refusals
from connector.codes import Code
from connector.data._consumer import message_limit, payload_limit
from connector.data._socketio import SocketIODialer
from connector.errors import ChannelDown, ChannelRefused
from tests.connector.channel_pair import ENDPOINT, SUB, Pair, connected, handshake, outbox, settle, until

pytestmark = pytest.mark.anyio


def audit_rows(pair: Pair) -> int:
    with pair.pec.db.session() as session:
        return int(session.execute(select(func.count()).select_from(AuditRow)).scalar_one())


# -- after a revocation ----------------------------------------------------------------------------------------------
async def test_records_posted_once_the_ledger_says_revoked_are_never_sent(pair: Pair) -> None:
    """The control plane has not told the flow yet: the send itself finds the revocation in the ledger."""
    await pair.consume(pair.view(SUB))
    await connected(pair)
    await pair.post("R-1", "R-2")
    await until(lambda: outbox(pair).stored == 2, what="2 stored")

    pair.record_at_provider(SUB, "revoked")
    await pair.post("R-3", "R-4", "R-5")
    reception = pair.consumer.receptions[SUB]
    await until(lambda: reception.done.is_set(), what="the consumer to hear of the revocation")

    assert reception.status.closed == "revoked"
    assert pair.instances_sent() == [1, 2]
    assert pair.stored_keys() == ["R-1", "R-2"]
    assert SUB not in pair.provider.flows


# -- floods ----------------------------------------------------------------------------------------------------------
@pytest.mark.tuning(events_burst=50)
async def test_a_subscribe_flood_joins_the_running_delivery_then_is_refused_flooded_and_closed_once(
        pair: Pair) -> None:
    await pair.post("F-1", "F-2", "F-3")
    channel = await handshake(pair, pair.grant(SUB))
    answers = [await channel.call("subscribe", {"subscriptionId": SUB, "afterSeq": 0}, 5)]
    await until(lambda: len(pair.instances_sent()) == 3, what="the 3 records sent")
    sender = pair.provider.flows[SUB]._sender
    for n in range(200):
        try:
            answers.append(await channel.call("subscribe", {"subscriptionId": SUB, "afterSeq": 0}, 5))
        except ChannelDown:
            break
        if n == 40:
            assert pair.provider.flows[SUB]._sender is sender  # joined the running delivery, not started over
    await until(lambda: not pair.network.connections[0].open, what="the flooding channel to be closed")

    codes = [a.get("code") for a in answers]
    assert answers[0]["ok"] and codes.count(None) == 50, codes  # the burst, each answered from the running start
    assert set(codes[50:]) == {Code.FLOODED.value}
    assert pair.instances_sent() == [1, 2, 3]  # each record went once
    assert pair.refused("pec") == {"flooded": 1}
    assert pair.network.connections[0].sent[-1].data["code"] == Code.FLOODED.value  # told why, then closed


@pytest.mark.tuning(events_burst=10, events_per_second=2)
async def test_a_channel_closed_for_flooding_is_admitted_again_once_its_budget_has_filled(pair: Pair) -> None:
    """Coming straight back, it would make the provider replay its window (sealed again) on every connect."""
    channel = await handshake(pair, pair.grant(SUB))
    for _ in range(20):
        try:
            await channel.call("subscribe", {"subscriptionId": SUB, "afterSeq": 0}, 5)
        except ChannelDown:
            break
    await until(lambda: not pair.network.connections[0].open, what="the flooding channel to be closed")

    with pytest.raises(ChannelRefused) as refused:
        await handshake(pair, pair.grant(SUB))
    pair.clock.advance(5)  # events_burst / events_per_second
    again = await handshake(pair, pair.grant(SUB))

    assert refused.value.code == Code.SLOW_DOWN
    assert (await again.call("subscribe", {"subscriptionId": SUB, "afterSeq": 0}, 5))["ok"]
    assert pair.refused("pec") == {"flooded": 1, "slow-down": 1}


@pytest.mark.tuning(events_burst=10, events_per_second=2)
async def test_a_flooding_channel_is_counted_once_even_when_its_budget_would_fill_before_it_is_closed(
        pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded provider the close can take a while; the channel stays refused meanwhile, and counted once."""
    await handshake(pair, pair.grant(SUB))
    conn_id = next(iter(pair.provider.connections))

    async def slow_close(conn_id: str) -> None: ...

    monkeypatch.setattr(pair.provider, "_close_flooded", slow_close)
    first = [await pair.provider._over_budget(conn_id) for _ in range(11)]
    pair.clock.advance(60)  # the budget would have filled again
    later = [await pair.provider._over_budget(conn_id) for _ in range(11)]

    assert first[:10] == [None] * 10 and first[10] is not None and first[10]["code"] == Code.FLOODED.value
    assert all(answer is not None and answer["code"] == Code.FLOODED.value for answer in later)
    await settle()
    assert pair.refused("pec") == {"flooded": 1}


async def test_stored_notices_that_confirm_deliveries_cost_no_budget(pair: Pair) -> None:
    """A consumer that stores fast sends many notices: only useless ones count against it."""
    await pair.consume(pair.view(SUB))
    await connected(pair)
    await pair.post(*(f"S-{n}" for n in range(150)))

    await until(lambda: outbox(pair).stored == 150, what="150 stored", timeout=30)

    assert pair.refused("pec") == {}
    assert pair.network.connections[0].open


# -- malformed events --------------------------------------------------------------------------------------------------
async def test_every_malformed_event_is_answered_malformed_and_counted_once(pair: Pair) -> None:
    channel = await handshake(pair, pair.grant(SUB))

    answers = [await channel.call(event, payload, 5) for event, payload in (
        ("subscribe", None), ("history", None), ("grant", None), ("subscribe", {"subscriptionId": 7}),
        ("history", ["not", "an", "object"]))]
    await channel.emit("stored", None)
    await channel.emit("resend", {"seqs": "all"})

    assert [(a["ok"], a["code"]) for a in answers] == [(False, Code.MALFORMED.value)] * 5
    assert all("not what the protocol says" in a["reason"] for a in answers)
    assert pair.refused("pec") == {"malformed": 7}


# -- handshakes and the audit trail ------------------------------------------------------------------------------------
@pytest.mark.tuning(handshakes_burst=5)
async def test_a_handshake_storm_from_one_source_is_slowed_down_and_written_as_one_row(pair: Pair) -> None:
    peer = pair.network.dial(ENDPOINT)
    grant = pair.grant(SUB)
    before = audit_rows(pair)
    outcomes = []
    for _ in range(40):
        try:
            await peer.challenge(grant)
            outcomes.append("nonce")
        except ChannelRefused as refused:
            outcomes.append(refused.code)

    assert outcomes[:5] == ["nonce"] * 5 and set(outcomes[5:]) == {Code.SLOW_DOWN}
    assert pair.refused("pec") == {"slow-down": 35}
    assert audit_rows(pair) == before  # nothing written per attempt
    pair.provider.refusals.flush(everything=True)
    assert audit_rows(pair) == before + 1
    assert Refusals(pair.pec.db, pair.provider.metrics).counts() == {"slow-down": 35}

    pair.clock.advance(60)  # the budget comes back with time
    assert await peer.challenge(grant)


# -- a hostile provider ------------------------------------------------------------------------------------------------
@pytest.mark.tuning(inbound_max=16)
async def test_a_consumer_holds_at_most_inbound_max_records_and_refuses_the_rest(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    reception = pair.consumer.receptions[SUB]
    message = {"subscriptionId": SUB, "seq": 1, "header": "h", "signature": "s", "files": [], "ciphertext": "c"}

    answers = [reception.receive({**message, "seq": seq}) for seq in range(1, 41)]
    other = reception.receive({**message, "subscriptionId": "sub-of-someone-else"})

    assert [a["ok"] for a in answers] == [True] * 16 + [False] * 24
    assert {a["code"] for a in answers[16:]} == {Code.SLOW_DOWN.value}
    assert other["code"] == Code.WRONG_SUBSCRIPTION.value
    assert reception.queue.qsize() <= 16


def test_a_consumer_reads_no_channel_frame_larger_than_an_inline_payload_it_would_take() -> None:
    """A hostile provider's oversized frame closes its own channel (aiohttp's max_msg_size) instead of being
    read into memory: the bound follows the consumer's own body limit, not a fixed 64 MiB."""
    two_mib = 2 * 1024 * 1024

    assert message_limit(two_mib) == payload_limit(two_mib) * 4 // 3 + 256 * 1024 < 6 * 1024 * 1024
    assert SocketIODialer(max_message_bytes=message_limit(two_mib))("https://pec.example").max_message_bytes \
        == message_limit(two_mib)


@pytest.mark.tuning(window=64, events_burst=100)
async def test_asking_again_for_the_whole_window_costs_per_seq_and_soon_closes_the_channel(pair: Pair) -> None:
    """Each copy asked for is sealed again: a 'resend' of 64 seqs costs 9 events, so 100 buy 11 of them."""
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.hold_stored = True
    await pair.post(*(f"A-{n}" for n in range(64)))
    await until(lambda: len(pair.instances_sent()) == 64, what="a full window sent")

    asked = 0
    while conn.open and asked < 50:
        await pair.provider.on_resend(conn.conn_id, {"subscriptionId": SUB, "seqs": list(range(1, 65)),
                                                     "reason": "again"})
        asked += 1
        await settle()

    assert asked == 12  # 11 paid for, the 12th over budget
    assert len(pair.instances_sent()) <= 64 * 12
    assert pair.refused("pec").get("flooded") == 1
