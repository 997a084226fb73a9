"""Several subscriptions at once: a consumer that hangs with its connection open (SIGSTOP) holds up nobody else,
and gets everything exactly once when it wakes."""

from __future__ import annotations

from tests.e2e.exchange import Exchange, assert_exactly_once_in_order, post_orders_concurrently
from tests.e2e.harness import received, wait_for

ORDERS = 150
ORDER_BYTES = 60_000  # ~150 KB of AAS each: the hung consumer's window outgrows its socket buffers


def test_a_hung_consumer_never_stalls_another_and_catches_up_when_it_wakes(exchange: Exchange) -> None:
    acme = exchange.join("acme")
    omis_subscription = exchange.subscribe()
    acme_subscription = exchange.subscribe(by="acme")
    wait_for(lambda: exchange.channel_open(omis_subscription) and exchange.channel_open(acme_subscription),
             "both channels to open", timeout=30)
    order_ids = [f"HUNG-{n:03d}" for n in range(ORDERS)]

    with acme.paused():
        post_orders_concurrently(exchange.pec, order_ids, size=ORDER_BYTES)
        assert_exactly_once_in_order(exchange, order_ids, timeout=60)
        behind = exchange.subscription("pec", acme_subscription)
        assert behind["lastSeqStored"] < ORDERS, behind  # it really was held up, not done before the pause

    keys = wait_for(lambda: (k := [i["key"] for i in received(acme, "sales-order", "pec")]) and len(k) >= ORDERS
                    and k, f"{ORDERS} orders at the woken consumer", timeout=90)
    assert sorted(keys) == order_ids
    assert exchange.subscription("pec", acme_subscription)["lastSeqStored"] == ORDERS
