"""The juice value chain end to end, as ``make demo`` starts it: the portal, PEC's and OMIS's AAdSys, PEC's shop and
OMIS's line as five processes on loopback, bootstrapped through their command lines and HTTP APIs.

One chain serves the session (``value_chain`` in ``tests/conftest.py``; the README's examples run on it too), and
the one full journey through a browser runs on it; the other tests check their own part of it: the demo's sample
orders and summary, the line's bill of materials, label and status revisions, the shop's status stream across a
restart, an order placed while PEC's AAdSys is down, the operator's and the administrator's pages."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, expect
from rich.console import Console

from aadsys.processes import http_client, wait_for
from tests.support.live_server import loopback_get
from valuechain import scenario
from valuechain.orders import SAMPLES, CustomerOrder, label_image
from valuechain.scenario import PASSWORD, Chain, order_juices, summary

STATIONS = ["loading", "mixing", "filling", "capping", "printing", "packaging"]
pytestmark = pytest.mark.timeout(300)  # the first test pays for the chain's bootstrap: some 15 command lines

@pytest.fixture
def chain(value_chain: Chain) -> Chain:
    """The session's value chain (``tests/conftest.py``), which the README's examples run against too."""
    return value_chain


def finished(chain: Chain, page: str, timeout: float = 90.0) -> dict[str, Any]:
    """The shop's view of an order once its final status is back from OMIS."""
    def final() -> dict[str, Any] | None:
        order = chain.shop.order(page)
        return order if order["status"] in ("completed", "failed") else None

    return wait_for(final, f"the final status of {page}", timeout=timeout)


def instances(member: Any, key: str, provider: str | None = None) -> list[dict[str, Any]]:
    with member.api() as api:
        items = api.get("/api/v1/asset-types/sales-order/instances",
                        params={"provider": provider, "limit": 500} if provider else {"limit": 500}
                        ).raise_for_status().json()["items"]
    return [item for item in items if item["key"] == key]


def test_the_demos_sample_orders_each_go_there_and_back_and_its_summary_says_so(chain: Chain,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 4 and 5 of ``make demo`` (``valuechain.scenario``), on the chain its steps 1 to 3 bootstrapped."""
    recorded = Console(record=True, width=200)
    monkeypatch.setattr(scenario, "console", recorded)

    outcomes = order_juices(chain)
    recorded.print(summary(outcomes))

    assert {o.order_id: o.problems() for o in outcomes} == {o.order_id: [] for o in outcomes}
    table = recorded.export_text()
    rows = [line for line in table[table.index("5. Every order, there and back"):].splitlines() if "SO-" in line]
    assert len(rows) == len(SAMPLES) and all(row.count("completed") == 2 for row in rows), table
    assert table.count("sha256 ✓, printed") == sum(1 for sample in SAMPLES if sample.label_colour), table


def test_a_mixed_order_becomes_a_bill_of_materials_and_its_label_reaches_the_printer_intact(chain: Chain) -> None:
    juice = CustomerOrder("Nadia", 500, (("mango", 50), ("orange", 30), ("lime", 20)), "Selamat!", 4, "#8844aa")
    image = juice.image()
    assert image is not None
    page = chain.shop.place(juice.form(), image)
    shop = finished(chain, page)
    assert shop["status"] == "completed" and shop["delivery"] == "sent"
    uploaded = hashlib.sha256(image[1]).hexdigest()
    assert shop["item"]["labelImage"]["sha256"] == uploaded

    line = chain.line.order(shop["orderId"])
    assert line is not None and line["state"] == "completed"
    (production,) = line["productionOrders"]
    assert production["bom"] == {"ingredients": [{"ingredient": "mango", "volumeMl": 1000},
                                                 {"ingredient": "orange", "volumeMl": 600},
                                                 {"ingredient": "lime", "volumeMl": 400}],
                                 "bottles": 4, "caps": 4, "labels": 4}
    assert production["labelImage"]["sha256"] == uploaded and production["labelImage"]["verified"]
    assert {b["printedSha256"] for b in production["bottles"]} == {uploaded}
    with chain.omis.api() as omis:  # the bytes OMIS's AAdSys holds, received over the connector
        held = omis.get(f"/api/v1/files/{uploaded}").raise_for_status().content
    assert hashlib.sha256(held).hexdigest() == uploaded == hashlib.sha256(
        loopback_get(f"{chain.line.url}/api/labels/{uploaded}", auth=("operator", chain.line.password)).content
    ).hexdigest()

    # every status revision the line decided reached PEC, in order: received, scheduled, one per station, completed
    order_id = shop["orderId"]
    with chain.pec.api() as pec:
        def latest_completed() -> httpx.Response | None:
            response = pec.get(f"/api/v1/asset-types/sales-order-status/instances/{order_id}",
                               params={"provider": "omis"})
            return response if response.status_code == 200 and response.json()["status"] == "completed" else None

        latest = wait_for(latest_completed, "the completed status at PEC", timeout=60)
        revisions = [pec.get(f"/api/v1/asset-types/sales-order-status/instances/{order_id}",
                             params={"provider": "omis", "revision": n}).json() for n in range(1, 10)]
    assert latest.headers["X-Revision"] == "9" and line["statusRevisionsPosted"] == 9
    assert [(r["status"], r.get("currentStation")) for r in revisions] == [
        ("received", None), ("scheduled", None), *[("in_production", s) for s in STATIONS], ("completed", None)]
    assert revisions[2]["rfidTag"] in {b["rfidTag"] for b in production["bottles"]}
    final_trace = revisions[-1]["trace"]
    assert len(final_trace) == len(STATIONS) * production["bom"]["bottles"]
    assert {t["result"] for t in final_trace} == {"ok"}
    assert [t["station"] for t in final_trace].count("printing") == production["bom"]["bottles"]


def test_the_shop_restarted_while_statuses_arrive_resumes_its_stream_without_a_replay(chain: Chain) -> None:
    """The shop follows PEC's event stream of Sales Order Status with Last-Event-ID: what arrived while it was down
    is read once after it starts, and nothing read before is read again."""
    token = "shop-metrics-" + hashlib.sha256(str(chain.shop.port).encode()).hexdigest()[:16]
    (chain.shop.data_dir / "metrics-token").write_text(token + "\n")
    page = chain.shop.place(CustomerOrder("Lina", 250, (("apple", 100),), "Restart", 1, None).form(), None)
    sent = wait_for(lambda: (o := chain.shop.order(page))["delivery"] == "sent" and o, "the order sent to PEC",
                    timeout=30)
    chain.shop.stop()
    position = _stream_position(chain)
    wait_for(lambda: _status_at_pec(chain, sent["orderId"]) == "completed", "the completed status at PEC",
             timeout=60)
    arrived = _statuses_after(chain, position)

    chain.shop.start()
    wait_for(lambda: _metric(chain, token, "pec_shop_status_events_total") >= arrived,
             "the shop to read what arrived while it was down", timeout=30)
    order = finished(chain, page)
    time.sleep(1)  # a replay of older events, had there been one, would be counted by now

    assert arrived >= 1 and _metric(chain, token, "pec_shop_status_events_total") == arrived
    assert order["status"] == "completed"
    numbers = [r["revision"] for r in order["revisions"]]
    assert numbers == sorted(set(numbers)) and order["revisions"][-1]["status"] == "completed"


def _status_at_pec(chain: Chain, order_id: str) -> str | None:
    with chain.pec.api() as pec:
        found = pec.get(f"/api/v1/asset-types/sales-order-status/instances/{order_id}", params={"provider": "omis"})
    return str(found.json()["status"]) if found.status_code == 200 else None


def _stream_position(chain: Chain) -> int:
    import sqlite3

    with sqlite3.connect(chain.shop.data_dir / "pec_shop.db") as db:
        found = db.execute("SELECT last_event_id FROM stream_positions").fetchone()
    return int(found[0]) if found else 0


def _statuses_after(chain: Chain, position: int) -> int:
    with chain.pec.api() as pec:
        items = pec.get("/api/v1/asset-types/sales-order-status/instances",
                        params={"provider": "omis", "limit": 500}).raise_for_status().json()["items"]
    return sum(1 for item in items if item["seq"] > position)


def _metric(chain: Chain, token: str, name: str) -> float:
    with http_client(chain.shop.url, {"Authorization": f"Bearer {token}"}) as client:
        text = client.get("/metrics").raise_for_status().text
    found = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(found[0].split()[1]) if found else 0.0


def test_an_order_placed_while_pecs_aadsys_is_down_arrives_exactly_once_after_it_starts(chain: Chain) -> None:
    chain.pec.stop()
    try:
        page = chain.shop.place(CustomerOrder("Kai", 250, (("apple", 100),), "Offline order", 1, None).form(), None)
        def retried() -> dict[str, Any] | None:
            order = chain.shop.order(page)
            return order if order["attempts"] >= 2 else None

        queued = wait_for(retried, "two failed attempts to reach PEC's AAdSys", timeout=30)
        assert queued["delivery"] == "queued" and queued["status"] is None
    finally:
        chain.pec.start()
    shop = finished(chain, page)
    assert shop["delivery"] == "sent" and shop["status"] == "completed"
    time.sleep(2)  # a second send, had there been one, would be stored by now
    assert len(instances(chain.pec, shop["orderId"])) == 1
    assert len(instances(chain.omis, shop["orderId"], provider="pec")) == 1
    line = chain.line.order(shop["orderId"])
    assert line is not None and line["state"] == "completed"


SCREENSHOTS = Path("artifacts/screenshots")


@pytest.mark.browser
def test_a_customer_orders_a_custom_juice_with_a_label_and_watches_it_reach_completed(chain: Chain,
                                                                                      browser: Browser) -> None:
    context = browser.new_context(base_url=chain.shop.url, viewport={"width": 1200, "height": 1100})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/")
        page.fill("#customer_name", "Siti")
        page.check("input[name=bottle_size_ml][value='330']")
        page.select_option("select[aria-label='Ingredient 1']", "mango")
        page.fill("input[aria-label='Ratio 1 in percent']", "60")
        page.select_option("select[aria-label='Ingredient 2']", "kiwi")  # takes what is left: 40
        expect(page.locator("#ratio-total")).to_have_text("100%")
        page.fill("input[aria-label='Ratio 1 in percent']", "50")
        expect(page.locator("#ratio-total")).to_have_text("90%")
        page.click("#balance")  # the form keeps the mix at 100%
        expect(page.locator("input[aria-label='Ratio 2 in percent']")).to_have_value("50")
        expect(page.locator("#ratio-total")).to_have_text("100%")
        page.fill("#label_text", "Hari jadi Siti")
        label = label_image("Hari jadi Siti", "#c0392b")
        page.set_input_files("#label_image", files=FilePayload(name="siti.png", mimeType="image/png", buffer=label))
        page.fill("#quantity", "2")
        page.click("button[type=submit]")
        page.wait_for_url("**/orders/*")
        page.evaluate("window.stayedOnThePage = true")  # gone if the page reloaded: updates must come live

        expect(page.locator("#status")).to_contain_text("completed", timeout=90_000)
        assert page.evaluate("window.stayedOnThePage === true")
        expect(page.locator(".station-done")).to_have_count(6)
        assert page.locator("img.thumb").evaluate("img => img.complete && img.naturalWidth") == 360
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "shop-order-page.png", full_page=True)

        order = chain.shop.order("/" + page.url.split("/", 3)[3])
        assert order["item"]["labelImage"]["sha256"] == hashlib.sha256(label).hexdigest()
        assert [r["status"] for r in order["revisions"]][-1] == "completed"
    finally:
        context.close()


@pytest.mark.browser
def test_the_operator_page_shows_the_line_and_its_oee(chain: Chain, browser: Browser) -> None:
    finished(chain, chain.shop.place(
        CustomerOrder("Omar", 750, (("guava", 50), ("apple", 50)), "Line check", 2, None).form(), None))
    anonymous = browser.new_context(base_url=chain.line.url)
    assert anonymous.request.get("/").status == 401
    anonymous.close()
    context = browser.new_context(base_url=chain.line.url, viewport={"width": 1280, "height": 1000},
                                  http_credentials={"username": "operator", "password": chain.line.password})
    try:
        page = context.new_page()
        page.goto("/?minutes=15")
        for station in ("loading", "mixing", "filling", "capping", "printing", "packaging"):
            expect(page.locator("#live")).to_contain_text(station, ignore_case=True)
        expect(page.locator("#live")).to_contain_text("OEE")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "line-operator-page.png", full_page=True)
    finally:
        context.close()


@pytest.mark.browser
def test_pecs_administrator_sees_both_subscriptions_of_the_chain_active_in_the_portal(chain: Chain,
                                                                                    browser: Browser) -> None:
    context = browser.new_context(base_url=chain.portal.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email address").fill("admin@pec.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto("/subscriptions")
        body = page.locator("main")
        expect(body).to_contain_text("Sales Order Status")  # PEC's own request, to OMIS
        expect(body).to_contain_text("OMIS")  # and OMIS's request for PEC's Sales Orders, approved by PEC
        expect(body).to_contain_text("active")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "portal-subscriptions-page.png", full_page=True)
    finally:
        context.close()
