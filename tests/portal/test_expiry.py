"""A real-time subscription whose window closed reads as expired at once, without any read writing; the portal's
expiry sweep records it once (audit record and revocation); a grant is refused in between (issue 11)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from abm_portal.models import AuditEntry, Revocation, Subscription
from tests.portal.conftest import Account, LivePortal, running_portal
from tests.portal.flows import act, assert_problem, publish, register_connector, request


def _approved_and_closed(live_portal: LivePortal, consumer: Account, provider: Account) -> str:
    """An approved real-time subscription whose window is moved into the past behind the portal's back."""
    register_connector(live_portal, consumer)
    with live_portal.client(provider.admin_token) as owner, live_portal.client(consumer.admin_token) as buyer:
        sub_id = str(request(buyer, publish(owner)["id"])["id"])
        act(owner, sub_id, "approve")
    with live_portal.database.session() as db:
        row = db.get(Subscription, sub_id)
        assert row is not None
        row.valid_to = datetime.now(UTC) - timedelta(seconds=1)
        db.add(row)
        db.commit()
    return sub_id


def _written(live_portal: LivePortal, sub_id: str) -> tuple[str, datetime, int, int]:
    """The stored state, its stamp, and how many audit records and revocations name the subscription."""
    with live_portal.database.session() as db:
        row = db.get(Subscription, sub_id)
        assert row is not None
        audits = db.exec(select(func.count()).select_from(AuditEntry)
                         .where(col(AuditEntry.subject) == f"subscription {sub_id}")).one()
        revocations = db.exec(select(func.count()).select_from(Revocation)
                              .where(col(Revocation.subscription_id) == sub_id)).one()
        return row.state, row.updated_at, int(audits), int(revocations)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def quiet_portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    """A portal whose sweep does not run during a test: whatever changes, a read changed it."""
    with running_portal(request, tmp_path_factory, expiry_sweep_seconds=3600) as portal:
        yield portal


def test_reads_show_the_expiry_and_write_nothing(quiet_portal: LivePortal) -> None:
    live_portal = quiet_portal
    provider, consumer = live_portal.register("Maker"), live_portal.register("Buyer")
    sub_id = _approved_and_closed(live_portal, consumer, provider)
    before = _written(live_portal, sub_id)
    assert before[0] == "approved"
    with live_portal.client(consumer.admin_token) as api:
        assert api.get(f"/api/v1/subscriptions/{sub_id}").json()["state"] == "expired"
        listed = api.get("/api/v1/subscriptions", params={"state": "expired"}).json()["items"]
        assert sub_id in {s["id"] for s in listed}
        approved = api.get("/api/v1/subscriptions", params={"state": "approved"}).json()["items"]
        assert sub_id not in {s["id"] for s in approved}
        api.get("/api/v1/revocations")
        assert_problem(api.get(f"/api/v1/subscriptions/{sub_id}/grant"), 409, says="expired")
    assert _written(live_portal, sub_id) == before
    with live_portal.client(provider.admin_token) as owner:  # a change first records the expiry, then refuses
        assert_problem(owner.post(f"/api/v1/subscriptions/{sub_id}/revoke", json={}), 409, says="expired")


def test_the_sweep_records_the_expiry_once(live_portal: LivePortal) -> None:
    provider, consumer = live_portal.register("Maker"), live_portal.register("Buyer")
    sub_id = _approved_and_closed(live_portal, consumer, provider)
    deadline = time.monotonic() + 5 * live_portal.settings.expiry_sweep_seconds + 5
    while _written(live_portal, sub_id)[0] != "expired" and time.monotonic() < deadline:
        time.sleep(0.1)
    state, _, audits, revocations = _written(live_portal, sub_id)
    assert state == "expired" and revocations == 1
    time.sleep(2 * live_portal.settings.expiry_sweep_seconds)
    assert _written(live_portal, sub_id)[2:] == (audits, revocations)  # once
    with live_portal.client(consumer.admin_token) as api:
        feed = api.get("/api/v1/revocations").json()["items"]
    assert (sub_id, "expired") in {(r["subscriptionId"], r["state"]) for r in feed}
