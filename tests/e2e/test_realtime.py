"""Real-time channels between two AAdSys processes: every record once, in order, across crashes and outages.

Each test runs a portal, PEC's and OMIS's AAdSys as separate processes on loopback, driven only through their
command lines and HTTP APIs. OMIS subscribes to PEC's Sales Orders in real time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.exchange import (
    POLL_SECONDS,
    Exchange,
    Poster,
    assert_exactly_once_in_order,
    post_orders_concurrently,
    start_exchange,
)
from tests.e2e.harness import AadsysFactory, PreparedPortal, received, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def exchange(request: pytest.FixtureRequest, portal: PreparedPortal, aadsys_factory: AadsysFactory
             ) -> Iterator[Exchange]:
    """PEC and OMIS, each on its own database of the kind under test, with OMIS subscribed to PEC's orders."""
    pair = start_exchange(portal, aadsys_factory, postgresql=request.param == "postgresql")
    subscription = pair.subscribe()
    wait_for(lambda: pair.channel_open(subscription), "the channel to open", timeout=30)
    yield pair


def test_a_thousand_orders_posted_to_pec_arrive_at_omis_in_order_once(exchange: Exchange) -> None:
    orders = [f"RT-{n:05d}" for n in range(1000)]

    post_orders_concurrently(exchange.pec, orders)

    assert_exactly_once_in_order(exchange, orders)
    status = exchange.connector("pec", "status")["subscriptions"][0]
    assert (status["lastSeqSent"], status["lastSeqStored"], status["lag"], status["expired"]) == (1000, 1000, 0, 0)


def test_consumer_killed_mid_stream_and_restarted_stores_every_order_exactly_once(exchange: Exchange) -> None:
    orders = [f"KC-{n:05d}" for n in range(600)]
    poster = Poster(exchange.pec, orders)
    poster.start()
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) >= 100, "OMIS to be mid-stream", timeout=60)

    exchange.omis.kill()
    time.sleep(1)
    exchange.omis.restart()
    poster.finish()

    assert_exactly_once_in_order(exchange, orders)


def test_provider_killed_mid_stream_and_restarted_delivers_every_order_exactly_once(exchange: Exchange) -> None:
    orders = [f"KP-{n:05d}" for n in range(600)]
    poster = Poster(exchange.pec, orders)
    poster.start()
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) >= 100, "OMIS to be mid-stream", timeout=60)

    exchange.pec.kill()  # the e-shop's posts fail meanwhile and are retried with the same order
    time.sleep(1)
    exchange.pec.restart()
    poster.finish()

    assert_exactly_once_in_order(exchange, orders)


@pytest.mark.parametrize("exchange", ["sqlite"], indirect=True)
def test_delivery_goes_on_while_the_portal_is_down_and_reports_reconcile_when_it_returns(
        exchange: Exchange, portal: PreparedPortal) -> None:
    subscription = exchange.subscriptions[0]
    post_orders_concurrently(exchange.pec, [f"PO-{n:03d}" for n in range(20)])
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) == 20,
             "20 orders before the outage", timeout=30)

    portal.stop()
    post_orders_concurrently(exchange.pec, [f"PO-{n:03d}" for n in range(20, 50)])
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) == 50,
             "50 orders during the outage", timeout=30)
    assert wait_for(lambda: exchange.connector("omis", "status")["portal"]["reachable"] is False,
                    "OMIS to see the portal down", timeout=10)

    portal.start()

    def reconciled_on_everything() -> dict[str, Any] | None:
        progress: dict[str, Any] = exchange.portal_view(subscription).get("progress") or {}
        sides = progress.get("provider"), progress.get("consumer")
        return progress if progress.get("reconciled") and all(s and s["count"] == 50 for s in sides) else None

    progress = wait_for(reconciled_on_everything, "both sides' reports of 50 to reconcile at the portal", timeout=30)
    assert progress["provider"]["lastSeq"] == progress["consumer"]["lastSeq"] == 50


@pytest.mark.parametrize("exchange", ["sqlite"], indirect=True)
def test_revocation_closes_the_channel_within_one_poll_interval_and_nothing_is_delivered_after_it(
        exchange: Exchange, portal: PreparedPortal) -> None:
    subscription = exchange.subscriptions[0]
    post_orders_concurrently(exchange.pec, [f"RV-{n:03d}" for n in range(10)])
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) == 10, "10 orders before revoking", timeout=30)

    portal.decide(subscription, exchange.organisation("pec"), "revoke", reason="contract ended")
    revoked_at = time.monotonic()
    wait_for(lambda: not exchange.channel_open(subscription), "the channel to close", timeout=10, interval=0.05)
    closed_after = time.monotonic() - revoked_at
    post_orders_concurrently(exchange.pec, [f"RV-{n:03d}" for n in range(10, 20)])
    time.sleep(POLL_SECONDS * 6)

    assert closed_after <= POLL_SECONDS + 1.0, f"closed {closed_after:.2f} s after the revocation"
    assert len(received(exchange.omis, "sales-order", "pec")) == 10
    assert exchange.subscription("pec", subscription)["state"] == "revoked"
    assert wait_for(lambda: exchange.subscription("omis", subscription)["state"] == "revoked",
                    "OMIS to learn of the revocation", timeout=10)
