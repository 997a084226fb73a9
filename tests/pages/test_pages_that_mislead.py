"""Pages say what is true: the real way to approve, the subscription id the CLI printed, a rejection and its
reason (not "no transfer yet"), the signed-in menu on a 404, names instead of ids in the audit log, "valid from"
and "valid to" side by side, and times at one precision on the shop's order page and the live refresh."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from abm_portal.db import Database
from abm_portal.services import progress
from tests.pages.sites import PASSWORD, PortalSite, ShopSite, connector_actor

pytestmark = pytest.mark.browser

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHOWN_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def pec(browser: Browser, portal_site: PortalSite) -> Iterator[Page]:
    """PEC's administrator, logged in, at desktop width."""
    context = browser.new_context(base_url=portal_site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email address").fill(portal_site.users["pec_admin"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    yield page
    context.close()


def test_the_organisation_page_names_the_real_ways_to_approve_and_request(pec: Page) -> None:
    pec.goto("/organisation")
    tokens = pec.locator("section", has=pec.get_by_role("heading", name="Personal access tokens"))

    expect(pec.locator("main")).not_to_contain_text("aadsys approve")
    expect(tokens).to_contain_text("POST /api/v1/subscriptions/{id}/approve")
    expect(tokens.get_by_role("link", name="Approvals")).to_have_attribute("href", "/approvals")
    expect(tokens).to_contain_text("aadsys connector request")


def test_the_approval_queue_shows_the_whole_subscription_id_ready_to_copy(pec: Page, portal_site: PortalSite) -> None:
    pec.goto("/approvals")
    shown = pec.locator(f"#request-{portal_site.ids['pending']} code.subscription-id")

    expect(shown).to_have_text(portal_site.ids["pending"])
    assert shown.evaluate("e => getComputedStyle(e).userSelect") == "all"  # one click selects all of it


def test_a_rejected_subscription_shows_the_rejection_and_its_reason(pec: Page) -> None:
    pec.goto("/subscriptions")
    row = pec.locator("tr[id^='consumer-']", has_text="Bottle Trace")

    expect(row.locator("td.state")).to_contain_text("rejected")
    expect(row.locator("td.state")).to_contain_text("Reason: “Traces are shared with certified partners only.”")
    expect(row.locator("td.progress")).to_have_text("none: the request was rejected, so nothing is exchanged")
    expect(pec.locator("main")).not_to_contain_text("no transfer yet")


def test_a_signed_in_persons_404_page_keeps_their_menu(pec: Page) -> None:
    response = pec.goto("/no/such/page")

    assert response is not None and response.status == 404
    expect(pec.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(pec.get_by_role("navigation", name="Main").get_by_role("link", name="My subscriptions")).to_be_visible()
    expect(pec.get_by_role("button", name="Log out")).to_be_visible()


def test_the_audit_log_names_people_organisations_and_subscriptions_not_ids(pec: Page,
                                                                          portal_site: PortalSite) -> None:
    pec.goto("/audit")
    text = pec.locator("main").inner_text()

    assert UUID.findall(text) == [] and portal_site.ids["pec_client"] not in text
    assert "the connector of OMIS Bottling" in text  # its first report made PEC's subscription active
    assert "the connector client of PEC Juice Shop" in text  # locked after failed authentications
    assert "PEC Juice Shop’s subscription to “Sales Order Status” of OMIS Bottling" in text
    assert "transfer of “Line OEE” from OMIS Bottling to PEC Juice Shop" in text


@pytest.mark.parametrize("width", [1280, 390])
def test_valid_from_and_valid_to_line_up(pec: Page, portal_site: PortalSite, width: int) -> None:
    """Side by side on a wide screen, one under the other on a phone: either way the two fields line up."""
    pec.set_viewport_size({"width": width, "height": 900})
    pec.goto(f"/assets/{portal_site.ids['status']}")
    start, end = (pec.get_by_label(label).bounding_box() for label in ("Valid from (UTC)", "Valid to (UTC)"))
    labels = [pec.locator(f"label[for='f-{name}']").bounding_box() for name in ("valid_from", "valid_to")]
    pec.set_viewport_size({"width": 1280, "height": 900})

    assert start and end and labels[0] and labels[1]
    assert (start["width"], start["height"]) == (end["width"], end["height"])
    if width >= 800:
        assert start["y"] == end["y"] and labels[0]["y"] == labels[1]["y"] and start["x"] < end["x"]
    else:
        assert start["x"] == end["x"] and labels[0]["x"] == labels[1]["x"] and start["y"] < end["y"]


def test_the_live_refresh_says_when_in_the_portals_time_format(pec: Page, portal_site: PortalSite) -> None:
    pec.goto("/subscriptions")
    status = pec.locator("#live-status")
    expect(status).to_have_text("Live updates on")

    database = Database(portal_site.settings.resolved_database_url)
    try:
        with database.session() as db:  # OMIS's connector reports more sent: PEC's open page follows
            progress.report(db, connector_actor(db, portal_site.settings, "OMIS Bottling"), portal_site.ids["live"],
                            side="provider", count=43, last_seq=43, expired=0)
    finally:
        database.dispose()

    expect(status).to_have_text(re.compile(r"^Updated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$"), timeout=15_000)
    expect(pec.locator("tr[id^='consumer-']", has_text="Sales Order Status")).to_contain_text("sent 43")


def test_the_shop_order_page_shows_every_time_at_one_precision(browser: Browser, shop_site: ShopSite) -> None:
    context = browser.new_context(base_url=shop_site.url)
    try:
        page = context.new_page()
        page.goto(f"/orders/{shop_site.order_token}")
        text = page.locator("#live").inner_text()
    finally:
        context.close()

    times = re.findall(r"\d{4}-\d{2}-\d{2}[ T][\d:.]+Z?", text)
    assert len(times) >= 5  # placed, status updated, three revisions received
    assert [t for t in times if not SHOWN_TIME.match(t)] == []
    assert "05:43:11.178000Z" not in text and "2026-12-07 05:43:11Z" in text
