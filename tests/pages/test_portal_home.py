"""After logging in, each role lands on a home page that shows what needs its attention: an administrator the
requests to approve, a member the same to pass on, both the windows closing soon, the transfers running or failed
and what the connectors reported going wrong; a portal operator the lockouts and the organisations without a
connector."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.pages.sites import PASSWORD, PortalSite

pytestmark = pytest.mark.browser


@pytest.fixture
def log_in_as(browser: Browser, portal_site: PortalSite) -> Iterator[Callable[[str], Page]]:
    """``log_in_as("pec_admin")``: a fresh browser that has logged in through the form and landed where it lands."""
    contexts = []

    def log_in(who: str) -> Page:
        context = browser.new_context(base_url=portal_site.url, viewport={"width": 390, "height": 844})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email address").fill(portal_site.users[who])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Home")
        assert page.url == portal_site.url + "/"
        return page

    yield log_in
    for context in contexts:
        context.close()


def test_an_administrator_sees_the_request_to_approve_and_everything_that_went_wrong(
        log_in_as: Callable[[str], Page], portal_site: PortalSite) -> None:
    page = log_in_as("pec_admin")
    ids = portal_site.ids

    expect(page.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    request = page.locator(f"#decide-{ids['pending']}")
    expect(request).to_contain_text("Weekly Demand Forecast")
    expect(request).to_contain_text("for OMIS Bottling")
    expect(request.locator("code.copyable")).to_have_text(ids["pending"])
    expect(request.get_by_role("link", name="Approve or reject")).to_have_attribute(
        "href", f"/approvals#request-{ids['pending']}")
    expect(page.locator(f"#expiring-{ids['orders']}")).to_contain_text("OMIS Bottling requests a new window")
    failed = page.locator(f"#transfer-{ids['history']}")
    expect(failed).to_contain_text("failed")
    expect(failed).to_contain_text("Reports disagree: the provider sent 120 instances, the consumer stored 118")
    expect(page.locator("#reports")).to_contain_text("2 of 17 deliveries passed their time to live before OMIS "
                                                     "Bottling stored them.")
    expect(page.locator("#lockouts")).to_contain_text(f"connector client {ids['pec_client']} until")
    expect(page.locator("#all-clear")).to_have_count(0)


def test_a_member_sees_the_request_as_one_for_an_administrator(log_in_as: Callable[[str], Page],
                                                              portal_site: PortalSite) -> None:
    page = log_in_as("pec_member")

    request = page.locator(f"#decide-{portal_site.ids['pending']}")
    expect(request).to_contain_text("Weekly Demand Forecast")
    expect(page.locator("#to-decide")).to_contain_text("An administrator of PEC Juice Shop decides these.")
    expect(request.get_by_role("link", name="Approve or reject")).to_have_count(0)


def test_the_consumer_sees_its_window_closing_and_what_its_partners_connector_reported(
        log_in_as: Callable[[str], Page], portal_site: PortalSite) -> None:
    page = log_in_as("omis_admin")
    ids = portal_site.ids

    expect(page.locator("#to-decide")).to_contain_text("No requests are waiting for a decision.")
    closing = page.locator(f"#expiring-{ids['orders']}")
    expect(closing).to_contain_text("Sales Order")
    expect(closing).to_contain_text("To go on, request a new window.")
    expect(page.locator(f"#transfer-{ids['history']}")).to_contain_text("Reports disagree")
    expect(page.locator("#reports")).to_contain_text("2 of 17 deliveries passed their time to live")
    expect(page.locator("#lockouts")).to_have_count(0)  # PEC's client is locked, not OMIS's


def test_a_portal_operator_sees_lockouts_and_organisations_without_a_connector(
        log_in_as: Callable[[str], Page], portal_site: PortalSite) -> None:
    page = log_in_as("operator")

    expect(page.locator("#lockouts")).to_contain_text(f"connector client {portal_site.ids['pec_client']}")
    waiting = page.locator("#without-connector")
    expect(waiting).to_contain_text("PEC Juice Shop")
    expect(waiting).to_contain_text("OMIS Bottling")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Home", "Catalog"])  # no pages that need an organisation
