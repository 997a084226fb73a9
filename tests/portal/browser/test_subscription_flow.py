"""Issue 3, "Done when": two organisations register, publish, search, request with a date range,
approve in the provider's session, and the consumer's session sees the state change."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.portal.browser.steps import (
    publish_asset,
    register,
    request_subscription,
    shot,
    subscription_state,
)

pytestmark = pytest.mark.browser


def _minute(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M")


def test_consumer_sees_the_provider_approve_its_date_ranged_request(open_page) -> None:
    run = uuid.uuid4().hex[:6]
    asset_name = f"Sales Order Status {run}"
    pec, omis = open_page(), open_page()

    pec_credentials = register(pec, f"PEC {run}", f"admin-{run}@pec.example", screenshots=True,
                               description="Online shop for individually mixed juices")
    assert pec_credentials.client_secret
    register(omis, f"OMIS {run}", f"admin-{run}@omis.example",
             description="Automated six-station juice bottling line")

    publish_asset(omis, asset_name, "sales-order-status", screenshots=True,
                  description="Production progress of each sales order, station by station",
                  semantic_id="https://omis.example/ids/sm/SalesOrderStatus/1/0")

    pec.goto("/catalog")
    pec.get_by_label("Search organisations and assets").fill(f"order status {run}")
    pec.get_by_role("button", name="Search").click()
    result = pec.get_by_role("link", name=asset_name)
    expect(result).to_be_visible()
    shot(pec, "catalog")
    result.click()
    expect(pec.get_by_role("heading", level=1)).to_have_text(asset_name)
    shot(pec, "asset")

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    request_subscription(pec, "realtime", _minute(now + timedelta(days=5)), _minute(now + timedelta(days=1)))
    valid_to = pec.get_by_label("Valid to (UTC)")
    expect(valid_to).to_have_attribute("aria-invalid", "true")
    error = pec.locator("#f-valid_to-error")
    expect(error).to_be_visible()
    assert "f-valid_to-error" in (valid_to.get_attribute("aria-describedby") or "")
    expect(pec.get_by_role("alert")).to_contain_text("There is a problem")
    expect(pec.get_by_label("Valid from (UTC)")).to_have_value(_minute(now + timedelta(days=5)))
    expect(valid_to).to_have_value(_minute(now + timedelta(days=1)))
    shot(pec, "asset_invalid_range")

    request_subscription(pec, "realtime", _minute(now), _minute(now + timedelta(days=30)))
    expect(pec).to_have_url(re.compile(r"/subscriptions$"))
    state = subscription_state(pec, "consumer", asset_name)
    expect(state).to_have_attribute("data-state", "requested")
    pec.evaluate("window.__stillTheSamePage = true")

    omis.goto("/approvals")
    row = omis.locator("tr", has_text=f"PEC {run}")
    expect(row).to_contain_text(asset_name)
    shot(omis, "approvals")
    row.get_by_role("button", name="Approve").click()
    expect(omis.get_by_role("status").first).to_contain_text("Approved")

    # The consumer's open page updates by itself (live refresh), without a reload.
    expect(state).to_have_attribute("data-state", "approved", timeout=15_000)
    assert pec.evaluate("window.__stillTheSamePage === true")
    expect(subscription_state(pec, "consumer", asset_name)).to_contain_text("approved")
    shot(pec, "subscriptions")

    omis.goto("/subscriptions")
    expect(subscription_state(omis, "provider", asset_name)).to_have_attribute("data-state", "approved")
    omis.goto("/audit")
    expect(omis.locator("table")).to_contain_text("approved")
    shot(omis, "audit")


def test_provider_rejects_with_a_reason_the_consumer_can_read(open_page) -> None:
    run = uuid.uuid4().hex[:6]
    asset_name = f"Juice product {run}"
    pec, omis = open_page(), open_page()
    register(pec, f"PEC {run}", f"admin-{run}@pec.example")
    register(omis, f"OMIS {run}", f"admin-{run}@omis.example")
    asset_path = publish_asset(omis, asset_name, "juice-product")

    pec.goto(asset_path)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    request_subscription(pec, "historical", _minute(now - timedelta(days=30)), _minute(now - timedelta(days=1)))
    expect(subscription_state(pec, "consumer", asset_name)).to_have_attribute("data-state", "requested")

    omis.goto("/approvals")
    row = omis.locator("tr", has_text=f"PEC {run}")
    row.get_by_label(f"Reason for rejecting the request of PEC {run}").fill("No historical data before go-live")
    row.get_by_role("button", name="Reject").click()
    expect(omis.get_by_role("status").first).to_contain_text("Rejected")
    expect(omis.locator("tr", has_text=f"PEC {run}")).to_have_count(0)

    pec.reload()
    state = subscription_state(pec, "consumer", asset_name)
    expect(state).to_have_attribute("data-state", "rejected")
    expect(state).to_contain_text("No historical data before go-live")


def test_my_organisation_shows_secrets_once_and_revokes_tokens(open_page) -> None:
    run = uuid.uuid4().hex[:6]
    page = open_page()
    first = register(page, f"OMIS {run}", f"admin-{run}@omis.example")

    page.goto("/organisation")
    expect(page.locator("#client-id")).to_have_text(first.client_id)
    expect(page.locator("#client-secret")).to_have_count(0)

    page.get_by_role("button", name="Rotate client secret").click()
    rotated = page.locator("#client-secret").inner_text()
    assert rotated and rotated != first.client_secret

    page.get_by_label("Token name").fill("approval script")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).not_to_be_empty()
    row = page.locator("tr", has_text="approval script")
    expect(row).to_contain_text("active")
    shot(page, "organisation")

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="approval script")).to_contain_text("revoked")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#client-secret")).to_have_count(0)
