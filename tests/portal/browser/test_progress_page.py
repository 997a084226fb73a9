"""My subscriptions shows what the connectors report for a real-time subscription: sent, stored, expired and
whether the figures reconcile; live with JavaScript, on reload without."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from tests.portal.browser.steps import (
    Credentials,
    log_in,
    publish_asset,
    register,
    request_subscription,
    shot,
    subscription_progress,
    subscription_state,
)
from tests.support.live_server import loopback_client

pytestmark = pytest.mark.browser


def _report(portal_url: str, connector: Credentials, subscription_id: str, **figures: int | str) -> None:
    """What a connector does: a client-credentials token, then a progress report."""
    with loopback_client(base_url=portal_url) as api:
        token = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(connector.client_id, connector.client_secret)).json()["access_token"]
        r = api.post(f"/api/v1/subscriptions/{subscription_id}/progress", json=figures,
                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def test_realtime_progress_shows_live_and_without_javascript(open_page, browser: Browser, portal) -> None:
    run = uuid.uuid4().hex[:6]
    asset_name = f"Sales Order {run}"
    pec, omis = open_page(), open_page()
    pec_connector = register(pec, f"PEC {run}", f"admin-{run}@pec.example")
    omis_connector = register(omis, f"OMIS {run}", f"admin-{run}@omis.example")
    pec.goto(publish_asset(omis, asset_name, "sales-order"))

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    request_subscription(pec, "realtime", now.strftime("%Y-%m-%dT%H:%M"),
                         (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    expect(pec).to_have_url(re.compile(r"/subscriptions$"))
    subscription_id = pec.locator("tr[id^='consumer-']", has_text=asset_name).get_attribute("data-subscription-id")
    assert subscription_id
    omis.goto("/approvals")
    omis.locator("tr", has_text=f"PEC {run}").get_by_role("button", name="Approve").click()
    expect(omis.get_by_role("status").first).to_contain_text("Approved")

    progress = subscription_progress(pec, "consumer", asset_name)
    expect(progress).to_contain_text("no reports yet", timeout=15_000)

    # The connectors report; the consumer's open page follows by itself.
    _report(portal.url, omis_connector, subscription_id, side="provider", count=12, lastSeq=12, expired=1)
    expect(progress).to_contain_text("sent 12 · stored — · expired 1", timeout=15_000)
    expect(progress).to_contain_text("waiting for the consumer’s report")
    expect(subscription_state(pec, "consumer", asset_name)).to_have_attribute("data-state", "active")
    _report(portal.url, pec_connector, subscription_id, side="consumer", count=11, lastSeq=12)
    expect(progress).to_have_attribute("data-reconciled", "true", timeout=15_000)
    expect(progress).to_contain_text("sent 12 · stored 11 · expired 1")
    expect(progress).to_contain_text("reconciled")
    shot(pec, "subscriptions_progress")

    # Without JavaScript the provider's page shows the same figures when loaded.
    context = browser.new_context(base_url=portal.url, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, f"admin-{run}@omis.example")
        page.goto("/subscriptions")
        static = subscription_progress(page, "provider", asset_name)
        expect(static).to_contain_text("sent 12 · stored 11 · expired 1")
        expect(static).to_have_attribute("data-reconciled", "true")
        _report(portal.url, omis_connector, subscription_id, side="provider", count=15, lastSeq=15, expired=1)
        page.reload()
        expect(static).to_contain_text("sent 15 · stored 11 · expired 1")
        expect(static).to_contain_text("not reconciled yet")
        expect(static).to_have_attribute("data-reconciled", "false")
    finally:
        context.close()
