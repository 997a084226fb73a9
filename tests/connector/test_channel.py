"""The channel between a provider and a consumer (DESIGN §5), in memory (``channel_pair``): delivery, the window,
re-sends, replays, refusals, revocation, the real-time window's edges, TTLs, tampering and historical ranges.

No process, socket or sleep: time moves only when a test advances the manual clock, and every wait is on
observed state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import select

from aadsys.core.tables import InstanceRow
from aadsys.gateway.context import AadsysContext
from connector._identity import load_or_create
from connector.codes import FINAL, Code
from connector.errors import ChannelRefused
from connector.spi import Mode, Role, SubscriptionState
from tests.connector.channel_pair import (
    ENDPOINT,
    SUB,
    MemoryConnection,
    Pair,
    connected,
    handshake,
    outbox,
    settle,
    until,
)
from tests.support.databases import AadsysTemplates

pytestmark = pytest.mark.anyio


async def reconnected(pair: Pair, count: int) -> MemoryConnection:
    """Once the consumer waits to try again: the clock moved past its backoff, and connection ``count`` open."""
    reception = pair.consumer.receptions[SUB]
    await until(lambda: reception.status.retry_at is not None, what="the consumer to wait for its next attempt")
    pair.clock.advance(pair.consumer.settings.reconnect_max_seconds)
    return await connected(pair, count)


# -- delivery -------------------------------------------------------------------------------------------------------
async def test_records_posted_at_the_provider_are_stored_once_in_order_at_the_consumer(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    await pair.post(*(f"SO-{n}" for n in range(5)))

    await until(lambda: outbox(pair).stored == 5, what="5 orders confirmed stored")

    assert pair.stored_keys() == [f"SO-{n}" for n in range(5)]
    assert pair.instances_sent() == [1, 2, 3, 4, 5]


@pytest.mark.tuning(window=4)
async def test_the_provider_keeps_at_most_window_messages_unconfirmed(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.hold_stored = True
    await pair.post(*(f"W-{n}" for n in range(10)))

    await until(lambda: len(pair.instances_sent()) >= 4 and len(pair.stored_keys()) >= 4, what="a full window")
    await settle()
    assert pair.instances_sent() == [1, 2, 3, 4]

    await conn.release_stored()
    await until(lambda: outbox(pair).stored == 10, what="the rest, as confirmations free the window")
    assert pair.instances_sent() == list(range(1, 11))
    assert pair.stored_keys() == [f"W-{n}" for n in range(10)]


@pytest.mark.tuning(window_bytes=1024)
async def test_window_bytes_bounds_the_unconfirmed_payload_too(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.hold_stored = True
    await pair.post("B-1", "B-2", "B-3")

    await until(lambda: pair.stored_keys() == ["B-1"], what="the first record")
    await settle()
    assert pair.instances_sent() == [1]  # one 2 KB record fills 1 KB: the next waits for its confirmation

    await conn.release_stored()
    await until(lambda: outbox(pair).stored == 3, what="the others, one at a time")


# -- re-sends -------------------------------------------------------------------------------------------------------
async def test_a_record_received_but_not_confirmed_in_time_is_sent_again_and_stored_once(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.hold_stored = True
    await pair.post("R-1")
    await until(lambda: pair.stored_keys() == ["R-1"], what="the record at the consumer")

    pair.clock.advance(9.9)  # resend_after_seconds is 10
    await settle()
    assert pair.instances_sent() == [1]
    pair.clock.advance(0.2)
    await until(lambda: pair.instances_sent() == [1, 1], what="the re-send")

    await conn.release_stored()
    await until(lambda: outbox(pair).stored == 1, what="the confirmation")
    assert pair.stored_keys() == ["R-1"]


async def test_a_record_without_tier_one_is_not_sent_again_on_the_same_connection(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.drop_tier_one, conn.hold_stored = True, True
    await pair.post("T-1")
    await until(lambda: pair.stored_keys() == ["T-1"], what="the record at the consumer")

    for _ in range(5):
        pair.clock.advance(30)
        await settle()

    assert pair.instances_sent() == [1]  # still on its way, as far as the provider knows: no copies pile up


async def test_after_a_reconnect_the_provider_replays_what_the_consumer_lacks_in_order(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    first = await connected(pair)
    first.lose = lambda event, data: event == "instance" and data["seq"] > 3  # the network loses 4, 5 and 6
    await pair.post(*(f"P-{n}" for n in range(1, 7)))
    await until(lambda: outbox(pair).stored == 3 and len(pair.instances_sent(first)) == 6, what="3 of 6")

    await first.channel.close()  # the connection breaks
    second = await reconnected(pair, 2)
    await until(lambda: outbox(pair).stored == 6, what="the replay")

    assert pair.instances_sent(second) == [4, 5, 6]
    assert pair.stored_keys() == [f"P-{n}" for n in range(1, 7)]


async def test_a_consumer_that_lost_what_it_stored_after_a_seq_gets_it_again(
        pair: Pair, aadsys_templates: AadsysTemplates, tmp_path: Path) -> None:
    """``afterSeq`` is the consumer's word for what it holds: restored from an older backup, it says less, and
    the provider sends again what it had confirmed above that seq."""
    await pair.consume(pair.view(SUB))
    await connected(pair)
    await pair.post("A-1", "A-2", "A-3")
    await until(lambda: outbox(pair).stored == 3, what="3 stored")
    await pair.consumer.terminate(SUB, Code.SHUTTING_DOWN, "restoring a backup")

    restored = AadsysContext.build(aadsys_templates.settings(tmp_path / "restored", "omis", "https://omis.example"))
    try:
        pair.consumer.inbox, pair.consumer.db = restored.inbox, restored.db
        pair.consumer.keeper.leases.db = restored.db  # its leases live in the restored database too
        pair.consumer.keeper.held.clear()
        pair.omis = restored
        pair.consumer.receptions.clear()
        await pair.consume(pair.view(SUB))
        await until(lambda: pair.stored_keys() == ["A-1", "A-2", "A-3"], what="all three again")
    finally:
        restored.db.dispose()


# -- refusals at the handshake ----------------------------------------------------------------------------------------
GrantMaker = Callable[[Pair], str]
REFUSED_GRANTS: list[tuple[Code, GrantMaker]] = [
    (Code.BAD_SIGNATURE, lambda p: p.grant(SUB, key=ECKey.generate_key("P-256"), kid=p.portal_key.thumbprint())),
    (Code.UNKNOWN_KEY, lambda p: p.grant(SUB, key=ECKey.generate_key("P-256"))),
    (Code.WRONG_ISSUER, lambda p: p.grant(SUB, iss="https://another-portal.example")),
    (Code.WRONG_AUDIENCE, lambda p: p.grant(SUB, aud="org-someone-else")),
    (Code.GRANT_EXPIRED, lambda p: p.grant(SUB, lifetime=timedelta(minutes=-5))),
    (Code.NOT_YET_VALID, lambda p: p.grant(SUB, nbf=int((p.clock.now() + timedelta(hours=1)).timestamp()))),
    (Code.OUTSIDE_WINDOW, lambda p: p.grant(SUB, valid_to=p.clock.now() - timedelta(minutes=5))),
    (Code.UNKNOWN_ASSET_TYPE, lambda p: p.grant(SUB, assetType="no-such-type")),
    (Code.MALFORMED, lambda p: "not-a-jwt"),
]


@pytest.mark.parametrize(("code", "make"), REFUSED_GRANTS, ids=[code for code, _ in REFUSED_GRANTS])
async def test_a_grant_that_does_not_admit_a_channel_is_refused_with_its_code_and_counted(
        pair: Pair, code: Code, make: GrantMaker) -> None:
    with pytest.raises(ChannelRefused) as refusal:
        await handshake(pair, make(pair))

    assert refusal.value.code is code
    assert pair.refused("pec") == {code.value: 1}
    assert not pair.provider.flows


async def test_a_nonce_works_once(pair: Pair) -> None:
    grant = pair.grant(SUB)
    nonce = await pair.network.dial(ENDPOINT).challenge(grant)
    await handshake(pair, grant, nonce=nonce)

    with pytest.raises(ChannelRefused) as refusal:
        await handshake(pair, grant, nonce=nonce)

    assert refusal.value.code is Code.STALE_NONCE


async def test_a_proof_by_another_key_than_the_grant_names_is_refused(pair: Pair, tmp_path: Path) -> None:
    with pytest.raises(ChannelRefused) as refusal:
        await handshake(pair, pair.grant(SUB), keys=load_or_create(tmp_path / "stranger"))

    assert refusal.value.code is Code.BAD_PROOF


async def test_connect_auth_that_is_not_grant_nonce_and_proof_is_refused_as_malformed(pair: Pair) -> None:
    with pytest.raises(ChannelRefused) as refusal:
        await handshake(pair, pair.grant(SUB), auth={"grant": pair.grant(SUB)})

    assert refusal.value.code is Code.MALFORMED_AUTH


async def test_a_subscription_the_provider_knows_ended_is_refused_even_while_the_portal_is_down(pair: Pair) -> None:
    pair.portal.reachable = False
    pair.record_at_provider(SUB, "revoked")

    with pytest.raises(ChannelRefused) as refusal:
        await handshake(pair, pair.grant(SUB))

    assert refusal.value.code is Code.REVOKED


@pytest.mark.parametrize(("verdict", "code"), [({"valid": False, "state": "revoked", "reason": "ended"}, Code.REVOKED),
                                               ({"valid": False, "state": "approved"}, Code.INVALID)])
async def test_the_portal_online_has_the_last_word_at_the_handshake(
        pair: Pair, verdict: dict[str, Any], code: Code) -> None:
    pair.record_at_provider(SUB, "active")
    pair.portal.verdicts[SUB] = verdict

    with pytest.raises(ChannelRefused) as refusal:
        await handshake(pair, pair.grant(SUB))

    assert refusal.value.code is code
    row = pair.ledger.get(SUB)
    assert row is not None and row.state == ("revoked" if code is Code.REVOKED else "active")


async def test_the_portal_down_leaves_the_offline_checks_to_decide(pair: Pair) -> None:
    pair.portal.reachable = False

    channel = await handshake(pair, pair.grant(SUB))

    assert channel.connected


# -- refusals on an open channel -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("event", "data", "code"), [
    ("subscribe", None, Code.MALFORMED),
    ("subscribe", {"subscriptionId": "sub-other", "afterSeq": 0}, Code.WRONG_SUBSCRIPTION),
    ("history", {"subscriptionId": SUB, "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
     Code.WRONG_MODE),
    ("grant", {"grant": "not-a-jwt"}, Code.MALFORMED),
    ("grant", None, Code.MALFORMED),
])
async def test_an_event_the_channel_cannot_take_is_answered_with_its_code(
        pair: Pair, event: str, data: Any, code: Code) -> None:
    channel = await handshake(pair, pair.grant(SUB))

    answer = await channel.call(event, data, 5)

    assert (answer["ok"], answer["code"]) == (False, code.value)


async def test_a_fresh_grant_for_another_consumer_key_is_refused_on_an_open_channel(pair: Pair, tmp_path: Path
                                                                                   ) -> None:
    channel = await handshake(pair, pair.grant(SUB))

    answer = await channel.call("grant", {"grant": pair.grant(SUB, consumer_keys=load_or_create(tmp_path / "x"))}, 5)

    assert (answer["ok"], answer["code"]) == (False, Code.BAD_PROOF.value)


async def test_a_history_range_outside_the_window_is_refused(pair: Pair) -> None:
    now = pair.clock.now()
    start, end = now - timedelta(days=2), now - timedelta(days=1)
    channel = await handshake(pair, pair.grant(SUB, mode=Mode.HISTORICAL, valid_from=start, valid_to=end))

    answer = await channel.call("history", {"subscriptionId": SUB, "from": (start - timedelta(seconds=1)).isoformat(),
                                            "to": end.isoformat()}, 5)

    assert (answer["ok"], answer["code"]) == (False, Code.OUTSIDE_WINDOW.value)
    assert pair.refused("pec") == {"outside-window": 1}


# -- how the consumer takes refusals ---------------------------------------------------------------------------------
async def test_a_final_refusal_ends_the_reception_for_good(pair: Pair) -> None:
    pair.record_at_provider(SUB, "revoked")
    await pair.consume(pair.view(SUB))
    reception = pair.consumer.receptions[SUB]

    await until(lambda: reception.done.is_set(), what="the reception to end")
    for _ in range(5):
        pair.clock.advance(pair.consumer.settings.reconnect_max_seconds * 2)
        await settle()

    assert Code.REVOKED in FINAL
    assert reception.status.closed == "revoked"
    assert pair.network.challenges == 1


async def test_a_passing_refusal_is_asked_again_after_the_backoff(pair: Pair) -> None:
    pair.portal.verdicts[SUB] = {"valid": False, "state": "approved"}  # the portal says no, for now
    await pair.consume(pair.view(SUB))
    await until(lambda: pair.network.challenges == 1 and pair.refused("pec"), what="the first refusal")

    del pair.portal.verdicts[SUB]
    await reconnected(pair, 1)

    assert not pair.consumer.receptions[SUB].done.is_set()
    assert pair.network.challenges == 2


# -- revocation and the window's edges ------------------------------------------------------------------------------
async def test_revocation_mid_stream_closes_the_channel_and_nothing_more_is_sent(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    await connected(pair)
    await pair.post("V-1", "V-2")
    await until(lambda: outbox(pair).stored == 2, what="2 stored")

    pair.record_at_provider(SUB, "revoked")
    await pair.provider.terminate(SUB, Code.REVOKED, "contract ended")
    await pair.post("V-3", "V-4")
    reception = pair.consumer.receptions[SUB]
    await until(lambda: reception.done.is_set(), what="the consumer to hear of it")
    pair.clock.advance(pair.consumer.settings.reconnect_max_seconds * 2)
    await settle()

    assert reception.status.closed == "revoked"
    assert pair.instances_sent() == [1, 2]
    assert pair.stored_keys() == ["V-1", "V-2"]
    assert pair.network.challenges == 1


async def test_the_end_of_a_real_time_window_closes_the_channel_for_good(pair: Pair) -> None:
    ends = pair.clock.now() + timedelta(seconds=30)
    await pair.consume(pair.view(SUB, valid_to=ends))
    await connected(pair)
    await pair.post("E-1")
    await until(lambda: outbox(pair).stored == 1, what="a record inside the window")

    pair.clock.advance(29)
    await pair.provider.close_due()
    assert pair.provider.flows[SUB].attached is not None
    pair.clock.advance(1)
    await pair.provider.close_due()

    reception = pair.consumer.receptions[SUB]
    await until(lambda: reception.done.is_set(), what="the channel to end")
    assert reception.status.closed == Code.WINDOW_ENDED.value
    assert SUB not in pair.provider.flows


async def test_a_window_that_has_not_opened_yet_admits_no_channel_until_it_opens(pair: Pair) -> None:
    opens = pair.clock.now() + timedelta(seconds=120)  # beyond the 60 s clock-skew leeway
    await pair.consume(pair.view(SUB, valid_from=opens, valid_to=opens + timedelta(days=1)))
    await until(lambda: pair.refused("pec").get("outside-window") == 1, what="the early connect refused")
    reception = pair.consumer.receptions[SUB]
    await until(lambda: reception.status.retry_at is not None, what="the consumer to wait for its next attempt")

    pair.clock.advance(121)  # past validFrom, and past the consumer's backoff
    await connected(pair)

    assert pair.provider.flows[SUB].attached is not None


async def test_records_created_before_valid_from_are_not_delivered(pair: Pair) -> None:
    await pair.post("OLD-1")
    with pair.pec.db.session() as session:
        made = session.execute(select(InstanceRow.created_at)).scalar_one()  # type: ignore[call-overload]
    await pair.consume(pair.view(SUB, valid_from=made + timedelta(microseconds=1)))
    await connected(pair)

    await pair.post("NEW-1")
    await until(lambda: outbox(pair).stored == 1, what="the new record")

    assert pair.stored_keys() == ["NEW-1"]


# -- TTL ------------------------------------------------------------------------------------------------------------
@pytest.mark.tuning(delivery_ttl_seconds=60)
async def test_a_delivery_not_stored_within_its_ttl_expires_and_is_counted(pair: Pair) -> None:
    view = pair.view(SUB)
    provider_view = type(view)(**{**view.__dict__, "role": Role.PROVIDER, "state": SubscriptionState.ACTIVE})
    await pair.provider.reconcile([provider_view])  # the consumer is away: deliveries are owed all the same
    await pair.post("X-1", "X-2")
    await until(lambda: outbox(pair).made == 2, what="2 deliveries made")

    pair.clock.advance(59)
    assert pair.provider.outbox.expire_due() == {}
    pair.clock.advance(2)
    assert pair.provider.outbox.expire_due() == {SUB: 2}

    await pair.consume(view)
    await connected(pair)
    await pair.post("X-3")
    await until(lambda: outbox(pair).stored == 1, what="the record after the expiry")
    figures = outbox(pair)
    assert (figures.expired, figures.stored) == (2, 1)
    assert pair.stored_keys() == ["X-3"]


# -- tampering ------------------------------------------------------------------------------------------------------
def flip_ciphertext(event: str, data: dict[str, Any]) -> dict[str, Any]:
    if event == "instance" and data.get("seq") == 1 and data.get("ciphertext"):
        raw = bytearray(data["ciphertext"])
        raw[len(raw) // 2] ^= 0x01
        data["ciphertext"] = bytes(raw)
    return data


async def test_a_tampered_seal_is_refused_counted_and_the_record_comes_again_intact(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.tamper = flip_ciphertext
    await pair.post("S-1", "S-2")
    await until(lambda: outbox(pair).stored == 1 and pair.refused("omis"), what="seq 2 stored, seq 1 refused")
    conn.tamper = None

    pair.clock.advance(pair.consumer.settings.resend_after_seconds)
    await until(lambda: outbox(pair).stored == 2, what="seq 1 sent again and stored")

    assert pair.refused("omis") == {"bad-signature": 1}
    assert sorted(pair.stored_keys()) == ["S-1", "S-2"]


async def test_a_message_whose_seq_differs_from_its_sealed_header_is_refused_as_replayed(pair: Pair) -> None:
    await pair.consume(pair.view(SUB))
    conn = await connected(pair)
    conn.tamper = lambda event, data: {**data, "seq": 7} if event == "instance" else data
    await pair.post("Q-1")

    await until(lambda: pair.refused("omis"), what="the refusal")

    assert pair.refused("omis") == {"replayed": 1}
    assert pair.stored_keys() == []


# -- historical ranges ----------------------------------------------------------------------------------------------
async def test_a_historical_range_delivers_exactly_its_records_and_both_sides_agree_on_the_digest(pair: Pair
                                                                                                  ) -> None:
    await pair.post("H-0")
    await pair.post("H-1", "H-2", "H-3")
    await pair.post("H-4")
    with pair.pec.db.session() as session:
        times = dict(session.execute(select(InstanceRow.instance_key, InstanceRow.created_at)).all())  # type: ignore[call-overload]
    view = pair.view(SUB, mode=Mode.HISTORICAL, valid_from=times["H-1"], valid_to=times["H-3"])

    await pair.consume(view)
    reception = pair.consumer.receptions[SUB]
    await until(lambda: reception.done.is_set(), what="the transfer to complete")

    assert pair.stored_keys() == ["H-1", "H-2", "H-3"]  # both bounds included
    provider_job, consumer_job = pair.provider.jobs.get(SUB), pair.consumer.jobs.get(SUB)
    assert provider_job is not None and consumer_job is not None
    assert (provider_job.state, consumer_job.state) == ("finished", "finished")
    assert (provider_job.count, provider_job.digest) == (consumer_job.count, consumer_job.digest)
    assert provider_job.count == 3 and str(provider_job.digest).startswith("sha256:")
    assert reception.status.closed == "history complete"


async def test_records_stored_in_bulk_at_the_provider_reach_the_consumer_like_single_ones(pair: Pair) -> None:
    from aadsys.samples import sales_order

    await pair.consume(pair.view(SUB))
    await pair.post("SO-0")
    bodies = [sales_order(f"SO-{n}") for n in range(6)]  # SO-0 again: a repeat, delivered once
    outcomes = await anyio.to_thread.run_sync(lambda: pair.pec.instances.create_many("sales-order", bodies,
                                                                                     chunk_items=2))
    assert [getattr(o, "created", None) for o in outcomes] == [False] + [True] * 5

    await until(lambda: outbox(pair).stored == 6, what="6 orders confirmed stored")

    assert pair.stored_keys() == [f"SO-{n}" for n in range(6)]
