"""Subscriptions follow the state machine of DESIGN §6; decisions belong to the provider's org admin; dates
are checked."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from abm_portal.errors import InvalidTransition
from abm_portal.services import lifecycle
from abm_portal.services.actors import ORG_MEMBER
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import act, assert_problem, iso, now, publish, request


@pytest.fixture
def asset(live_portal: LivePortal, omis: Account) -> dict:
    with live_portal.client(omis.admin_token) as provider:
        return publish(provider)


def test_a_realtime_request_is_approved_then_used_then_revoked(live_portal: LivePortal, pec: Account,
                                                               omis: Account, asset: dict) -> None:
    with live_portal.client(pec.admin_token) as consumer, live_portal.client(omis.admin_token) as provider:
        sub = request(consumer, asset["id"])
        assert (sub["state"], sub["providerName"], sub["consumerName"]) == ("requested", omis.name, pec.name)
        assert sub["requestedBy"] == f"{pec.admin_email} (personal token)"
        queued = provider.get("/api/v1/subscriptions", params={"role": "provider", "state": "requested"}).json()
        assert sub["id"] in [s["id"] for s in queued["items"]]

        approved = act(provider, sub["id"], "approve")
        assert approved["state"] == "approved" and approved["decidedBy"] == f"{omis.admin_email} (personal token)"
        assert approved["transfer"] is None  # real-time: no transfer job

        revoked = act(provider, sub["id"], "revoke", reason="Contract ended")
        assert (revoked["state"], revoked["reason"]) == ("revoked", "Contract ended")
        assert consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "revoked"


def test_a_rejection_needs_a_reason_and_the_consumer_reads_it(live_portal: LivePortal, pec: Account,
                                                              omis: Account, asset: dict) -> None:
    with live_portal.client(pec.admin_token) as consumer, live_portal.client(omis.admin_token) as provider:
        sub = request(consumer, asset["id"], "historical")
        problem = act(provider, sub["id"], "reject", expect=422, reason="  ")
        assert problem["errors"] == [{"field": "reason", "message": "Give a reason; the consumer reads it."}]
        act(provider, sub["id"], "reject", reason="No data before go-live")
        seen = consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()
        assert (seen["state"], seen["reason"]) == ("rejected", "No data before go-live")


def test_the_consumer_cancels_a_request_or_a_running_subscription(live_portal: LivePortal, pec: Account,
                                                                  omis: Account, asset: dict) -> None:
    with live_portal.client(pec.admin_token) as consumer, live_portal.client(omis.admin_token) as provider:
        pending = request(consumer, asset["id"])
        assert act(consumer, pending["id"], "cancel")["state"] == "cancelled"
        running = request(consumer, asset["id"])
        act(provider, running["id"], "approve")
        assert act(consumer, running["id"], "cancel", reason="No longer needed")["state"] == "cancelled"


@pytest.mark.parametrize(("path", "refused"), [
    (["reject"], "approve"),                     # approving a rejected request
    (["approve"], "reject"),                     # rejecting an approved one
    ([], "revoke"),                              # revoking what was never approved
    (["cancel"], "revoke"),                      # revoking a cancelled request
    (["approve", "revoke"], "cancel"),           # cancelling a revoked one
    (["approve", "revoke"], "approve"),          # approving a revoked one
])
def test_illegal_transitions_are_refused_with_409(live_portal: LivePortal, pec: Account, omis: Account,
                                                  asset: dict, path: list[str], refused: str) -> None:
    with live_portal.client(pec.admin_token) as consumer, live_portal.client(omis.admin_token) as provider:
        sub = request(consumer, asset["id"])
        for step in path:
            act(consumer if step == "cancel" else provider, sub["id"], step, reason="no")
        before = consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"]
        caller = consumer if refused == "cancel" else provider
        r = caller.post(f"/api/v1/subscriptions/{sub['id']}/{refused}", json={"reason": "x"})
        problem = assert_problem(r, 409, says=f"is {before}")
        assert problem["currentState"] == before
        assert consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == before


@pytest.mark.parametrize("path", [["approve"], ["reject"], ["approve", "revoke"], ["cancel"]])
def test_a_repeated_decision_changes_nothing_and_answers_the_subscription(
        live_portal: LivePortal, pec: Account, omis: Account, asset: dict, path: list[str]) -> None:
    """What a proxy that retries a request whose answer was lost (a worker killed after its commit) relies on."""
    with live_portal.client(pec.admin_token) as consumer, live_portal.client(omis.admin_token) as provider:
        sub = request(consumer, asset["id"])
        for step in path:
            act(consumer if step == "cancel" else provider, sub["id"], step, reason="no")
        first = consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()

        def recorded() -> list[dict]:
            return [e for e in provider.get("/api/v1/audit").json()["items"]
                    if e["subject"] == f"subscription {sub['id']}"]

        trail = recorded()
        again = act(consumer if path[-1] == "cancel" else provider, sub["id"], path[-1], reason="other")
        assert again == first
        assert recorded() == trail


def test_only_the_providers_admin_decides(live_portal: LivePortal, pec: Account, omis: Account,
                                          asset: dict) -> None:
    stranger = live_portal.register("Stranger")
    omis_member = live_portal.add_person(omis, ORG_MEMBER)
    with live_portal.client(pec.admin_token) as consumer:
        sub = request(consumer, asset["id"])
        assert_problem(consumer.post(f"/api/v1/subscriptions/{sub['id']}/approve"), 403, says="consumer")
        assert_problem(consumer.post(f"/api/v1/subscriptions/{sub['id']}/revoke"), 403)
    with live_portal.client(omis_member) as member:
        assert_problem(member.post(f"/api/v1/subscriptions/{sub['id']}/approve"), 403, says="administrator")
        assert_problem(member.post(f"/api/v1/subscriptions/{sub['id']}/reject", json={"reason": "no"}), 403)
    with live_portal.client(live_portal.connector_token(omis)) as connector:
        assert_problem(connector.post(f"/api/v1/subscriptions/{sub['id']}/approve"), 403)
    with live_portal.client(stranger.admin_token) as other:  # another provider: it does not even exist for them
        assert_problem(other.post(f"/api/v1/subscriptions/{sub['id']}/approve"), 404)
        assert_problem(other.post(f"/api/v1/subscriptions/{sub['id']}/cancel"), 404)
    with live_portal.client(omis.admin_token) as provider:
        assert_problem(provider.post(f"/api/v1/subscriptions/{sub['id']}/cancel"), 403, says="revoke")
        assert provider.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "requested"


def test_the_dates_are_checked_and_the_answer_says_what_to_fix(live_portal: LivePortal, pec: Account,
                                                               omis: Account, asset: dict) -> None:
    t = now()
    cases = [("realtime", t + timedelta(days=5), t + timedelta(days=1), "after “valid from”"),
             ("realtime", t, t, "after “valid from”"),
             ("historical", t - timedelta(days=1), t + timedelta(days=1), "in the past"),
             ("realtime", t - timedelta(days=9), t - timedelta(days=2), "wholly in the past")]
    with live_portal.client(pec.admin_token) as consumer:
        for mode, start, end, says in cases:
            r = consumer.post("/api/v1/subscriptions", json={"assetId": asset["id"], "mode": mode,
                                                             "validFrom": iso(start), "validTo": iso(end)})
            assert_problem(r, 422, field="validTo", says=says)
        naive = consumer.post("/api/v1/subscriptions", json={"assetId": asset["id"], "mode": "realtime",
                                                             "validFrom": "2030-01-01T00:00:00",
                                                             "validTo": "2030-02-01T00:00:00Z"})
        assert_problem(naive, 422, field="validFrom", says="timezone")
        weekly = consumer.post("/api/v1/subscriptions", json={"assetId": asset["id"], "mode": "weekly",
                                                              "validFrom": iso(t), "validTo": iso(t)})
        assert_problem(weekly, 422, field="mode")
        assert_problem(consumer.post("/api/v1/subscriptions", json={"assetId": "nope", "mode": "realtime",
                                                                    "validFrom": iso(t),
                                                                    "validTo": iso(t + timedelta(days=1))}), 404)
        listed = consumer.get("/api/v1/subscriptions", params={"state": "asleep"})
        assert_problem(listed, 422, field="state")
    with live_portal.client(omis.admin_token) as provider:
        assert_problem(provider.post("/api/v1/subscriptions", json={"assetId": asset["id"], "mode": "realtime",
                                                                    "validFrom": iso(t),
                                                                    "validTo": iso(t + timedelta(days=1))}),
                       422, field="assetId", says="your own")


def test_a_member_and_a_connector_may_request_for_their_organisation(live_portal: LivePortal, pec: Account,
                                                                     asset: dict) -> None:
    for token in (live_portal.add_person(pec, ORG_MEMBER), live_portal.connector_token(pec)):
        with live_portal.client(token) as api:
            assert request(api, asset["id"])["consumerOrgId"] == pec.org_id


def test_the_transition_table_is_the_one_of_design_section_6() -> None:
    allowed = {(s, t) for s, targets in lifecycle.SUBSCRIPTION_TRANSITIONS.items() for t in targets}
    assert allowed == {("requested", "approved"), ("requested", "rejected"), ("requested", "cancelled"),
                       ("approved", "active"), ("approved", "revoked"), ("approved", "expired"),
                       ("approved", "cancelled"), ("active", "completed"), ("active", "expired"),
                       ("active", "revoked"), ("active", "cancelled")}
    for state in lifecycle.SUBSCRIPTION_STATES:
        for target in lifecycle.SUBSCRIPTION_STATES:
            if (state, target) not in allowed:
                with pytest.raises(InvalidTransition):
                    lifecycle.check_transition(lifecycle.SUBSCRIPTION_TRANSITIONS, "subscription", state, target)
    transfer = {(s, t) for s, targets in lifecycle.TRANSFER_TRANSITIONS.items() for t in targets}
    assert transfer == {("pending", "running"), ("running", "provider_sent"), ("provider_sent", "completed"),
                        ("pending", "failed"), ("running", "failed"), ("provider_sent", "failed")}


def test_four_approvals_at_the_same_moment_approve_once(live_portal: LivePortal, pec: Account, omis: Account,
                                                       asset: dict) -> None:
    with live_portal.client(pec.admin_token) as consumer:
        sub = request(consumer, asset["id"], "historical")

    def approve() -> int:
        with live_portal.client(omis.admin_token) as provider:
            return provider.post(f"/api/v1/subscriptions/{sub['id']}/approve").status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = sorted(pool.map(lambda _: approve(), range(4)))
    assert codes == [200, 200, 200, 200]
    with live_portal.client(omis.admin_token) as provider:
        trail = provider.get("/api/v1/audit").json()["items"]
        transfers = [e for e in trail if e["action"] == "transfer.pending" and e["detail"]["subscription"] == sub["id"]]
    assert len(transfers) == 1
