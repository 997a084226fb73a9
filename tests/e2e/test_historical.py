"""Historical subscriptions: exactly the records created in [from, to], bounds included; the portal completes the
transfer only when both connectors report the same count and digest."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timedelta

from tests.e2e.exchange import Exchange, post_orders_concurrently
from tests.e2e.harness import received, wait_for


def test_historical_transfer_delivers_exactly_the_range_with_both_bounds_and_completes_at_the_portal(
        exchange: Exchange) -> None:
    post_orders_concurrently(exchange.pec, [f"H-{n:02d}" for n in range(12)], clients=1)
    stored = {i["key"]: i for i in exchange.pec.instances("sales-order")}
    start, end = (datetime.fromisoformat(stored[key]["createdAt"]) for key in ("H-03", "H-08"))
    time.sleep(0.2)
    post_orders_concurrently(exchange.pec, ["H-LATER"], clients=1)  # after the range, before the request

    subscription = exchange.subscribe(mode="historical", start=start, end=end, cli=True)

    transfer = wait_for(lambda: (t := exchange.portal_view(subscription)["transfer"]) and t["state"] in (
        "completed", "failed") and t, "the transfer to end at the portal", timeout=60)
    keys = sorted(i["key"] for i in received(exchange.omis, "sales-order", "pec"))
    assert keys == [f"H-{n:02d}" for n in range(3, 9)]
    assert transfer["state"] == "completed", transfer
    assert transfer["providerCount"] == transfer["consumerCount"] == 6
    assert transfer["providerDigest"] == transfer["consumerDigest"]
    assert exchange.portal_view(subscription)["state"] == "completed"
    jobs = {job["role"]: job for side in ("pec", "omis") for job in exchange.connector(side, "transfers")}
    assert jobs["provider"]["state"] == jobs["consumer"]["state"] == "completed"  # the portal's word, as it shows it
    assert jobs["provider"]["connectorState"] == jobs["consumer"]["connectorState"] == "reported"
    assert jobs["provider"]["done"] == jobs["consumer"]["done"] == jobs["consumer"]["total"] == 6


def test_received_records_appear_in_the_consumers_aas_api_and_event_stream_under_the_providers_ids(
        exchange: Exchange) -> None:
    post_orders_concurrently(exchange.pec, ["A-1"], clients=1)
    (stored,) = exchange.pec.instances("sales-order")
    moment = datetime.fromisoformat(stored["createdAt"])
    subscription = exchange.subscribe(mode="historical", start=moment, end=moment + timedelta(seconds=1))
    wait_for(lambda: received(exchange.omis, "sales-order", "pec"), "A-1 at OMIS", timeout=60)

    shell_id = base64.urlsafe_b64encode(b"https://pec.example/ids/aas/sales-order/A-1").decode().rstrip("=")
    with exchange.omis.api() as api:
        shell = api.get(f"/api/v3.0/shells/{shell_id}")
        own = api.get("/api/v1/asset-types/sales-order/instances/A-1")
        with api.stream("GET", "/api/v1/events", params={"after": 0}) as events:
            line = next(line for line in events.iter_lines() if line.startswith("data:"))
    assert shell.status_code == 200 and shell.json()["assetInformation"]["globalAssetId"] == "urn:pec:sales-order:A-1"
    assert own.status_code == 404  # OMIS holds no order A-1 of its own: PEC's is kept apart
    event = json.loads(line.removeprefix("data:"))
    assert (event["key"], event["provider"], event["sha256"]) == ("A-1", "pec", stored["sha256"])
    listed = {s["id"]: s["state"] for s in exchange.connector("omis", "subscriptions")}
    assert listed[subscription] in ("active", "completed")
    shown = exchange.omis.cli("connector", "status").stdout
    row = next(line for line in shown.splitlines() if line.startswith(subscription + " "))  # the whole id
    peer = re.escape(exchange.names["pec"])
    assert re.match(rf"{subscription} +consumer +{peer} +sales-order +historical ", row), shown
    assert f"omis at {exchange.omis.url} · portal {exchange.portal.url} reachable" in shown
    assert "refused: none" in shown


def test_publishing_again_makes_nothing_new(exchange: Exchange) -> None:
    first = exchange.pec.cli_result("connector", "publish")
    again = exchange.pec.cli_result("connector", "publish", "--type", "sales-order")
    catalog = [a for a in exchange.connector("omis", "catalog") if a["orgName"] == exchange.names["pec"]]
    assert first == again == f"sales-order {catalog[0]['id']}" and len(catalog) == 1


def test_consumer_killed_during_a_historical_transfer_resumes_where_it_stopped(exchange: Exchange) -> None:
    post_orders_concurrently(exchange.pec, [f"HK-{n:04d}" for n in range(800)])
    stored = exchange.pec.instances("sales-order")
    start, end = (datetime.fromisoformat(stored[i]["createdAt"]) for i in (0, -1))

    subscription = exchange.subscribe(mode="historical", start=start, end=end)
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) >= 100,
             "the transfer to be underway", timeout=60)
    exchange.omis.kill()
    exchange.omis.restart()

    transfer = wait_for(lambda: (t := exchange.portal_view(subscription)["transfer"]) and t["state"] in (
        "completed", "failed") and t, "the transfer to end at the portal", timeout=90)
    assert transfer["state"] == "completed", transfer
    assert transfer["providerCount"] == transfer["consumerCount"] == 800
    keys = [i["key"] for i in received(exchange.omis, "sales-order", "pec")]
    assert len(keys) == len(set(keys)) == 800
