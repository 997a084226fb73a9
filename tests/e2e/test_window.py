"""The subscription's window is the usage policy: no channel before validFrom, none after validTo."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.e2e.exchange import Exchange, now, post_orders_concurrently, refused
from tests.e2e.harness import received, wait_for


def test_a_channel_asked_for_before_the_window_opens_is_refused_counted_and_stores_nothing(
        exchange: Exchange) -> None:
    opens = now() + timedelta(hours=1)
    subscription = exchange.subscribe(start=opens, end=opens + timedelta(hours=1), cli=True)
    post_orders_concurrently(exchange.pec, ["W-1", "W-2"], clients=1)

    counts = wait_for(lambda: (c := refused(exchange, "pec")) and c, 30, what="PEC to refuse OMIS's channel")

    assert set(counts) <= {"not-yet-valid", "outside-window"}, counts
    assert not exchange.channel_open(subscription)
    assert received(exchange.omis, "sales-order", "pec") == []


def test_reaching_valid_to_closes_the_channel_and_nothing_after_it_is_delivered(exchange: Exchange) -> None:
    closes = datetime.now(UTC) + timedelta(seconds=15)
    subscription = exchange.subscribe(start=now(), end=closes)
    wait_for(lambda: exchange.channel_open(subscription), 30, what="the channel to open")
    post_orders_concurrently(exchange.pec, [f"V-{n}" for n in range(5)], clients=1)
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) == 5, 15, what="5 orders inside the window")

    time.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds()))
    wait_for(lambda: not exchange.channel_open(subscription), 3, interval=0.1, what="the channel to close at validTo")
    post_orders_concurrently(exchange.pec, [f"V-{n}" for n in range(5, 10)], clients=1)
    time.sleep(3)

    assert len(received(exchange.omis, "sales-order", "pec")) == 5
    assert wait_for(lambda: exchange.portal_view(subscription)["state"] == "expired", 10,
                    what="the portal to expire it")
