"""The outbox sender against a real, standalone PEC AAdSys process: orders arrive once, whatever happens."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aadsys.processes import AadsysProcess, wait_for
from tests.e2e.harness import PreparedAadsys
from tests.pec_shop.shop_support import LiveShop, image_bytes, make_settings, running_shop
from tests.support.databases import AadsysTemplates
from tests.support.prometheus import bearer, write_token

WAIT = 20.0
INSTANCES = "/api/v1/asset-types/{type}/instances"


@pytest.fixture(scope="module")
def pec(tmp_path_factory: pytest.TempPathFactory, aadsys_templates: AadsysTemplates) -> Iterator[AadsysProcess]:
    process = PreparedAadsys(tmp_path_factory.mktemp("aadsys") / "pec", aadsys_templates, org="pec",
                             base_iri="https://pec.example")
    try:
        process.init()
        process.create_key()  # the test's own key, for reading back
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def shop_key(pec: AadsysProcess) -> str:
    return pec.create_key("shop")


@pytest.fixture
def shop(pec: AadsysProcess, shop_key: str, tmp_path: Path) -> Iterator[LiveShop]:
    with running_shop(make_settings(tmp_path / "shop", pec.url, shop_key)) as live:
        yield live


def _delivered(shop: LiveShop, token: str, state: str, what: str) -> dict[str, Any]:
    """The order once its delivery is ``state``."""
    order = wait_for(lambda: (o := shop.order(token))["delivery"] == state and o, what, timeout=WAIT)
    assert order
    return order


def _instances_with_key(pec: AadsysProcess, key: str) -> list[dict[str, Any]]:
    return [i for i in pec.instances("sales-order") if i["key"] == key]


def test_order_and_label_image_arrive_at_the_aadsys(shop: LiveShop, pec: AadsysProcess) -> None:
    image = image_bytes("PNG", (120, 80), noise=True)
    token = shop.place_ok(image=("label.png", image, "image/png"))

    order = _delivered(shop, token, "sent", "the order to be sent")

    assert order["attempts"] == 1 and order["sentAt"] and order["deliveryError"] is None
    with pec.api() as aadsys:
        stored = aadsys.get(f"/api/v1/asset-types/sales-order/instances/{order['orderId']}")
        assert stored.status_code == 200, stored.text
        sales_order = stored.json()
        item = sales_order["items"][0]
        assert (sales_order["channel"], sales_order["currency"], sales_order["total"]) == ("web", "MYR", "25.80")
        assert sales_order["customer"]["displayName"] == "Aina" and sales_order["customer"]["id"].startswith("C-")
        assert item["ingredients"] == [{"ingredient": "orange", "ratio": 0.6}, {"ingredient": "carrot", "ratio": 0.4}]
        assert (item["bottleSizeMl"], item["quantity"], item["unitPrice"]) == (500, 2, "12.90")
        assert item["labelText"] == "Happy birthday"
        digest = item["labelImage"]["sha256"]
        assert digest == hashlib.sha256(image).hexdigest() == order["item"]["labelImage"]["sha256"]
        file = aadsys.get(f"/api/v1/files/{digest}")
        assert file.status_code == 200 and hashlib.sha256(file.content).hexdigest() == digest
    assert "Sent to production" in shop.client().get(f"/orders/{token}").text


def test_order_placed_while_the_aadsys_is_down_arrives_once_when_it_is_back(shop: LiveShop,
                                                                            pec: AadsysProcess) -> None:
    pec.stop()
    try:
        token = shop.place_ok()
        queued = wait_for(lambda: (o := shop.order(token))["attempts"] >= 2 and o, "two failed attempts", timeout=WAIT)
        assert queued["delivery"] == "queued" and queued["sentAt"] is None
        assert "Queued" in shop.client().get(f"/orders/{token}").text
    finally:
        pec.start()

    order = _delivered(shop, token, "sent", "the order to be sent after the restart")

    assert len(_instances_with_key(pec, order["orderId"])) == 1
    assert "Sent to production" in shop.client().get(f"/orders/{token}").text


def test_queued_orders_survive_a_shop_restart_and_a_conflicting_one_is_refused_with_the_reason(
        pec: AadsysProcess, shop_key: str, tmp_path: Path) -> None:
    # A revoked-looking key (401) keeps orders queued: an operator can fix a key, so the shop keeps trying.
    with running_shop(make_settings(tmp_path / "shop", pec.url, "aak_wrong_key")) as first:
        kept, conflicting = first.place_ok(), first.place_ok(customer_name="Ben")
        # Oldest first: the sender keeps trying the older order, the younger one waits its turn.
        wait_for(lambda: first.order(kept)["attempts"] >= 2, "attempts with the wrong key", timeout=WAIT)
        assert first.order(kept)["delivery"] == first.order(conflicting)["delivery"] == "queued"
        assert "401" in first.order(kept)["deliveryError"]
        kept_id, conflicting_id = first.order(kept)["orderId"], first.order(conflicting)["orderId"]
    other = {"orderId": conflicting_id, "orderDate": "2026-11-22T10:15:00Z", "customer": {"id": "C-1"},
             "channel": "phone", "currency": "MYR", "total": "6.50",
             "items": [{"product": "custom-juice", "bottleSizeMl": 250, "quantity": 1, "unitPrice": "6.50",
                        "ingredients": [{"ingredient": "apple", "ratio": 1}]}]}
    with pec.api() as aadsys:
        assert aadsys.post("/api/v1/asset-types/sales-order/instances", json=other).status_code == 201

    with running_shop(make_settings(tmp_path / "shop", pec.url, shop_key)) as second:
        sent = _delivered(second, kept, "sent", "the kept order to be sent")
        refused = _delivered(second, conflicting, "refused", "the refusal")
        page = second.client().get(f"/orders/{conflicting}").text

    assert len(_instances_with_key(pec, kept_id)) == 1 and sent["orderId"] == kept_id
    assert refused["deliveryError"] and refused["sentAt"] is None
    assert "Refused" in page and refused["deliveryError"].split(" (")[0] in page.replace("&#39;", "'")
    with pec.api() as aadsys:  # the AAdSys kept the first body it took under that key
        assert aadsys.get(f"/api/v1/asset-types/sales-order/instances/{conflicting_id}").json()["channel"] == "phone"


def test_a_backlog_goes_out_as_one_bulk_request_and_each_order_is_sent_once(pec: AadsysProcess, shop_key: str,
                                                                           tmp_path: Path) -> None:
    image = image_bytes("PNG", (40, 30), noise=True)
    with running_shop(make_settings(tmp_path / "shop")) as away:  # the AAdSys unreachable: the orders queue up
        tokens = [away.place_ok(), away.place_ok(image=("label.png", image, "image/png")),
                  away.place_ok(customer_name="Ben")]
        wait_for(lambda: away.order(tokens[0])["attempts"] >= 1, "a failed attempt", timeout=WAIT)
    token = write_token(pec.data_dir / "metrics-token")
    before = _instance_posts(pec, token)

    with running_shop(make_settings(tmp_path / "shop", pec.url, shop_key)) as back:
        orders = [_delivered(back, t, "sent", "the backlog to be sent") for t in tokens]

    assert _instance_posts(pec, token) - before == Counter({"200": 1})  # one bulk request, answered 200
    for order in orders:
        assert len(_instances_with_key(pec, order["orderId"])) == 1 and order["deliveryError"] is None
    with pec.api() as aadsys:
        stored = aadsys.get(f"/api/v1/asset-types/sales-order/instances/{orders[1]['orderId']}").json()
        assert stored["items"][0]["labelImage"]["sha256"] == hashlib.sha256(image).hexdigest()
        assert aadsys.get(f"/api/v1/files/{hashlib.sha256(image).hexdigest()}").content == image


def _instance_posts(pec: AadsysProcess, token: str) -> Counter[str]:
    """POSTs to the instances route the AAdSys answered, by status."""
    with pec.http() as http:
        exposition = http.get("/metrics", headers=bearer(token)).text
    return Counter({found.labels["status"]: int(found.value) for family in text_string_to_metric_families(exposition)
                    for found in family.samples if found.name == "aadsys_http_requests_total"
                    and found.labels.get("method") == "POST" and found.labels.get("route") == INSTANCES})


def test_status_of_our_own_aadsys_is_not_taken_for_the_partners(shop: LiveShop, pec: AadsysProcess) -> None:
    token = shop.place_ok()
    order_id = _delivered(shop, token, "sent", "the order to be sent")["orderId"]
    status = {"orderId": order_id, "status": "completed", "currentStation": None, "rfidTag": None, "trace": [],
              "updatedAt": "2026-11-22T10:16:03Z"}
    with pec.api() as aadsys:  # PEC's own record (provider null), not one OMIS sent over the connector
        assert aadsys.post("/api/v1/asset-types/sales-order-status/instances", json=status).status_code == 201

    wait_for(lambda: "pec_shop_status_events_total 1.0" in shop.metrics(),
             "the follower to read the event", timeout=WAIT)

    order = shop.order(token)
    assert order["status"] is None and order["revisions"] == []
    assert shop.rows("stream_positions") == 1  # the event was passed, and the stream position kept
