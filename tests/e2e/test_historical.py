"""Historical subscriptions: exactly the records created in [from, to], bounds included; the portal completes the
transfer only when both connectors report the same count and digest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.e2e.exchange import Exchange, post_orders_concurrently, start_exchange
from tests.e2e.harness import AadsysFactory, PortalProcess, list_instances, received, running_portal, wait_for


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalProcess]:
    with running_portal(tmp_path_factory.mktemp("portal") / "portal", ()) as process:
        yield process


@pytest.fixture
def exchange(portal: PortalProcess, aadsys_factory: AadsysFactory) -> Exchange:
    return start_exchange(portal, aadsys_factory)


def test_historical_transfer_delivers_exactly_the_range_with_both_bounds_and_completes_at_the_portal(
        exchange: Exchange) -> None:
    post_orders_concurrently(exchange.pec, [f"H-{n:02d}" for n in range(12)], clients=1)
    stored = {i["key"]: i for i in list_instances(exchange.pec, "sales-order")}
    start, end = (datetime.fromisoformat(stored[key]["createdAt"]) for key in ("H-03", "H-08"))
    time.sleep(0.2)
    post_orders_concurrently(exchange.pec, ["H-LATER"], clients=1)  # after the range, before the request

    subscription = exchange.subscribe(mode="historical", start=start, end=end, cli=True)

    transfer = wait_for(lambda: (t := exchange.portal_view(subscription)["transfer"]) and t["state"] in (
        "completed", "failed") and t, 60, what="the transfer to end at the portal")
    keys = sorted(i["key"] for i in received(exchange.omis, "sales-order", "pec"))
    assert keys == [f"H-{n:02d}" for n in range(3, 9)]
    assert transfer["state"] == "completed", transfer
    assert transfer["providerCount"] == transfer["consumerCount"] == 6
    assert transfer["providerDigest"] == transfer["consumerDigest"]
    assert exchange.portal_view(subscription)["state"] == "completed"
    jobs = {job["role"]: job for side in ("pec", "omis") for job in exchange.connector(side, "transfers")}
    assert jobs["provider"]["state"] == jobs["consumer"]["state"] == "reported"
    assert jobs["provider"]["done"] == jobs["consumer"]["done"] == jobs["consumer"]["total"] == 6


def test_consumer_killed_during_a_historical_transfer_resumes_where_it_stopped(exchange: Exchange) -> None:
    post_orders_concurrently(exchange.pec, [f"HK-{n:04d}" for n in range(800)])
    stored = list_instances(exchange.pec, "sales-order")
    start, end = (datetime.fromisoformat(stored[i]["createdAt"]) for i in (0, -1))

    subscription = exchange.subscribe(mode="historical", start=start, end=end)
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) >= 100, 60, what="the transfer to be underway")
    exchange.omis.kill()
    exchange.omis.restart()

    transfer = wait_for(lambda: (t := exchange.portal_view(subscription)["transfer"]) and t["state"] in (
        "completed", "failed") and t, 90, what="the transfer to end at the portal")
    assert transfer["state"] == "completed", transfer
    assert transfer["providerCount"] == transfer["consumerCount"] == 800
    keys = [i["key"] for i in received(exchange.omis, "sales-order", "pec")]
    assert len(keys) == len(set(keys)) == 800
