"""Historical transfers (DESIGN §5.5): the job completes only when both connectors report the same figures."""

from __future__ import annotations

import pytest

from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import act, assert_problem, publish, request


@pytest.fixture
def historical(live_portal: LivePortal, pec: Account, omis: Account) -> dict:
    """An approved historical subscription; its transfer job is pending."""
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        asset = publish(provider)
        sub = request(consumer, asset["id"], "historical")
        return act(provider, sub["id"], "approve")


def _report(live_portal: LivePortal, account: Account, transfer_id: str, side: str, count: int, digest: str,
            expect: int = 200) -> dict:
    with live_portal.client(live_portal.connector_token(account)) as connector:
        r = connector.post(f"/api/v1/transfers/{transfer_id}/reports",
                           json={"side": side, "count": count, "digest": digest})
    assert r.status_code == expect, r.text
    return dict(r.json())


def _subscription(live_portal: LivePortal, account: Account, sub_id: str) -> dict:
    with live_portal.client(account.admin_token) as api:
        return dict(api.get(f"/api/v1/subscriptions/{sub_id}").json())


def test_approval_of_a_historical_request_makes_a_pending_transfer(historical: dict) -> None:
    assert historical["state"] == "approved"
    assert historical["transfer"]["state"] == "pending"
    assert historical["transfer"]["subscriptionId"] == historical["id"]


def test_agreeing_reports_complete_the_transfer_and_the_subscription(live_portal: LivePortal, pec: Account,
                                                                     omis: Account, historical: dict) -> None:
    job_id = historical["transfer"]["id"]
    sent = _report(live_portal, omis, job_id, "provider", 42, "sha256:abc")
    assert (sent["state"], sent["expectedCount"], sent["providerCount"]) == ("provider_sent", 42, 42)
    assert _subscription(live_portal, pec, historical["id"])["state"] == "active"

    done = _report(live_portal, pec, job_id, "consumer", 42, "sha256:abc")
    assert (done["state"], done["consumerCount"], done["reason"]) == ("completed", 42, None)
    assert _subscription(live_portal, omis, historical["id"])["state"] == "completed"
    assert _report(live_portal, pec, job_id, "consumer", 42, "sha256:abc")["state"] == "completed"  # a retry

    with live_portal.client(pec.admin_token) as consumer:  # cancel after completed is refused
        assert_problem(consumer.post(f"/api/v1/subscriptions/{historical['id']}/cancel"), 409, says="completed")


def test_disagreeing_reports_fail_the_transfer_with_a_reason(live_portal: LivePortal, pec: Account,
                                                             omis: Account, historical: dict) -> None:
    job_id = historical["transfer"]["id"]
    first = _report(live_portal, pec, job_id, "consumer", 9, "sha256:def")  # the consumer may report first
    assert first["state"] == "running"
    failed = _report(live_portal, omis, job_id, "provider", 10, "sha256:abc")
    assert failed["state"] == "failed"
    assert failed["reason"] == ("Reports disagree: the provider sent 10 instances, the consumer stored 9; the "
                                "digests differ (provider sha256:abc, consumer sha256:def).")
    with live_portal.client(pec.admin_token) as consumer:
        assert consumer.get(f"/api/v1/transfers/{job_id}").json()["state"] == "failed"


def test_a_side_reports_only_for_itself_once_and_strangers_see_nothing(live_portal: LivePortal, pec: Account,
                                                                       omis: Account, historical: dict) -> None:
    job_id = historical["transfer"]["id"]
    wrong_side = _report(live_portal, pec, job_id, "provider", 1, "d", expect=403)
    assert "report side consumer" in wrong_side["detail"]
    _report(live_portal, omis, job_id, "provider", 5, "d5")
    changed = _report(live_portal, omis, job_id, "provider", 6, "d6", expect=409)
    assert "final" in changed["detail"]
    stranger = live_portal.register("Stranger")
    _report(live_portal, stranger, job_id, "consumer", 5, "d5", expect=404)
    with live_portal.client(stranger.admin_token) as other:
        assert_problem(other.get(f"/api/v1/transfers/{job_id}"), 404)
    with live_portal.client(omis.admin_token) as provider:
        bad = provider.post(f"/api/v1/transfers/{job_id}/reports", json={"side": "both", "count": -1, "digest": ""})
        problem = assert_problem(bad, 422)
        assert {e["field"] for e in problem["errors"]} == {"side", "count", "digest"}


def test_revoking_during_a_transfer_fails_it(live_portal: LivePortal, pec: Account, omis: Account,
                                             historical: dict) -> None:
    job_id = historical["transfer"]["id"]
    _report(live_portal, omis, job_id, "provider", 3, "d3")
    with live_portal.client(omis.admin_token) as provider:
        act(provider, historical["id"], "revoke")
        job = provider.get(f"/api/v1/transfers/{job_id}").json()
    assert (job["state"], job["reason"]) == ("failed", "The subscription was revoked.")
    late = _report(live_portal, pec, job_id, "consumer", 3, "d3", expect=409)
    assert "failed" in late["detail"]
