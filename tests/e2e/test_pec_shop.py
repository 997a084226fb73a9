"""The shop as a process on PEC's AAdSys, with OMIS over the real connector: orders out, statuses back.

The shop runs through its own command line (``python -m pec_shop init`` / ``serve``), as the value chain's
orchestration runs it, and is driven over HTTP only.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.exchange import Exchange
from tests.e2e.harness import ServerProcess, http_client, received, wait_for

WAIT = 30.0
SHOP_ENV = {"PEC_SHOP_RETRY_SECONDS": "0.2", "PEC_SHOP_RETRY_MAX_SECONDS": "1"}


class ShopProcess(ServerProcess):
    module = "pec_shop"

    def api(self) -> httpx.Client:
        return http_client(self.url)

    def order(self, token: str) -> dict[str, Any]:
        with self.api() as client:
            response = client.get(f"/api/orders/{token}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def status_events_read(self) -> float:
        """How many Sales Order Status events this process has read from the stream since it started."""
        with self.api() as client:
            found = re.search(r"^pec_shop_status_events_total (\S+)$", client.get("/metrics").text, re.M)
        assert found
        return float(found.group(1))


@pytest.fixture(scope="module")
def shop(partners: Exchange, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopProcess]:
    root = tmp_path_factory.mktemp("shop")
    key_file = root / "given-key"
    key_file.write_text(partners.pec.create_key("shop") + "\n")
    process = ShopProcess(root / "pec_shop", env=SHOP_ENV)
    try:
        process.cli_result("init", "--aadsys-url", partners.pec.url, "--api-key-file", str(key_file))
        process.start()
        yield process
    finally:
        process.stop()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (250, 160, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _status(order_id: str, status: str, station: str | None, trace: list[dict[str, Any]], minute: int
            ) -> dict[str, Any]:
    return {"orderId": order_id, "status": status, "currentStation": station, "rfidTag": "E280-1160-6000-0001",
            "trace": trace, "updatedAt": f"2026-11-22T10:{minute:02d}:00Z"}


def _post_status(partners: Exchange, body: dict[str, Any]) -> None:
    with partners.omis.api() as omis:
        response = omis.post("/api/v1/asset-types/sales-order-status/instances", json=body)
    assert response.status_code == 201, response.text


def _statuses_at_pec(partners: Exchange, order_id: str) -> int:
    return len([i for i in received(partners.pec, "sales-order-status", "omis") if i["key"] == order_id])


def _stream_position(shop: ShopProcess) -> int:
    with sqlite3.connect(Path(shop.data_dir) / "pec_shop.db") as db:
        return int(db.execute("SELECT last_event_id FROM stream_positions").fetchone()[0])


def test_order_reaches_omis_and_production_status_comes_back_across_a_shop_restart(
        partners: Exchange, shop: ShopProcess) -> None:
    image = _png()
    with shop.api() as client:
        placed = client.post("/orders", data={
            "customer_name": "Aina", "bottle_size_ml": "330", "ingredient": ["mango", "lime"], "ratio": ["75", "25"],
            "label_text": "For the team", "quantity": "3"}, files={"label_image": ("label.png", image, "image/png")})
    assert placed.status_code == 303, placed.text
    token = placed.headers["location"].removeprefix("/orders/")
    order = wait_for(lambda: (o := shop.order(token))["delivery"] == "sent" and o, WAIT, what="the order sent")
    order_id = order["orderId"]

    at_omis = wait_for(lambda: [i for i in received(partners.omis, "sales-order", "pec") if i["key"] == order_id],
                       WAIT, what="the Sales Order at OMIS")
    assert at_omis[0]["data"]["total"] == "24.00"
    with partners.omis.api() as omis:
        file = wait_for(lambda: (r := omis.get(f"/api/v1/files/{hashlib.sha256(image).hexdigest()}"))
                        .status_code == 200 and r, WAIT, what="the label image at OMIS")
    assert file and file.content == image

    ok = "ok"
    loading = {"station": "loading", "entered": "2026-11-22T10:16:00.120Z", "left": "2026-11-22T10:16:02Z",
               "result": ok}
    _post_status(partners, _status(order_id, "received", None, [], 15))
    _post_status(partners, _status(order_id, "scheduled", None, [], 16))
    wait_for(lambda: len(shop.order(token)["revisions"]) == 2, WAIT, what="two revisions at the shop")

    shop.stop()
    _post_status(partners, _status(order_id, "in_production", "filling", [loading], 17))
    wait_for(lambda: _statuses_at_pec(partners, order_id) == 3, WAIT, what="the third status at PEC")
    position_before = _stream_position(shop)
    shop.start()
    done = [loading] + [{"station": s, "entered": f"2026-11-22T10:18:0{i}Z", "left": f"2026-11-22T10:18:0{i}.5Z",
                         "result": ok} for i, s in enumerate(("mixing", "filling", "capping", "printing", "packaging"))]
    _post_status(partners, _status(order_id, "completed", None, done, 19))

    final = wait_for(lambda: (o := shop.order(token))["status"] == "completed" and o, WAIT, what="completed")

    assert [r["status"] for r in final["revisions"]] == ["received", "scheduled", "in_production", "completed"]
    numbers = [r["revision"] for r in final["revisions"]]
    assert numbers == sorted(set(numbers)) and len(numbers) == 4
    assert [r["currentStation"] for r in final["revisions"]] == [None, None, "filling", None]
    # The trace as the AAdSys serves it (it writes times in its own UTC form, e.g. with microseconds).
    assert [(t["station"], t["result"]) for t in final["trace"]] == [(t["station"], t["result"]) for t in done]
    assert final["rfidTag"] == "E280-1160-6000-0001"
    assert final["statusUpdatedAt"] == "2026-11-22T10:19:00Z"
    # Resumed with Last-Event-ID: after the restart only the two new events were read, none replayed.
    assert shop.status_events_read() == 2
    assert _stream_position(shop) > position_before
    with shop.api() as client:
        page = client.get(f"/orders/{token}").text
    assert "completed" in page and page.count("station-done") == 6
