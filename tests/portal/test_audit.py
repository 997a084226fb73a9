"""The audit trail (DESIGN §6): every transition with actor, time and before/after; append-only; per organisation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import act, assert_problem, iso, now, publish, request


def _trail(live_portal: LivePortal, account: Account, subject: str, **params: str) -> list[tuple]:
    with live_portal.client(account.admin_token) as api:
        r = api.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return [(e["action"], e["before"], e["after"], e["actor"]) for e in reversed(r.json()["items"])
            if subject in e["subject"] or subject in str(e["detail"])]


def test_a_historical_subscription_leaves_a_full_trail_for_both_parties(live_portal: LivePortal, pec: Account,
                                                                        omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        sub = request(consumer, publish(provider)["id"], "historical")
        job_id = act(provider, sub["id"], "approve")["transfer"]["id"]
    provider_connector, consumer_connector = (live_portal.connector_token(a) for a in (omis, pec))
    for token, side in ((provider_connector, "provider"), (consumer_connector, "consumer")):
        with live_portal.client(token) as connector:
            assert connector.post(f"/api/v1/transfers/{job_id}/reports",
                                  json={"side": side, "count": 7, "digest": "d7"}).status_code == 200

    admin_o, admin_p = f"{omis.admin_email} (personal token)", f"{pec.admin_email} (personal token)"
    connector_o, connector_p = f"connector {omis.client_id}", f"connector {pec.client_id}"
    expected = [("subscription.requested", None, "requested", admin_p),
                ("subscription.approved", "requested", "approved", admin_o),
                ("transfer.pending", None, "pending", admin_o),
                ("transfer.running", "pending", "running", connector_o),
                ("subscription.active", "approved", "active", connector_o),
                ("transfer.provider_sent", "running", "provider_sent", connector_o),
                ("transfer.completed", "provider_sent", "completed", connector_p),
                ("subscription.completed", "active", "completed", connector_p)]
    assert _trail(live_portal, omis, sub["id"]) == expected
    assert _trail(live_portal, pec, sub["id"]) == expected


def test_the_trail_is_filtered_by_time_and_shows_no_other_organisation(live_portal: LivePortal, pec: Account,
                                                                       omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        sub = request(consumer, publish(provider)["id"])
        act(provider, sub["id"], "reject", reason="Not for you")
    assert len(_trail(live_portal, pec, sub["id"], **{"from": iso(now() - timedelta(minutes=5))})) == 2
    assert _trail(live_portal, pec, sub["id"], **{"from": iso(now() + timedelta(minutes=5))}) == []
    assert _trail(live_portal, pec, sub["id"], to=iso(now() - timedelta(minutes=5))) == []

    stranger = live_portal.register("Stranger")
    with live_portal.client(stranger.admin_token) as other:
        entries = other.get("/api/v1/audit").json()["items"]
        assert [e["action"] for e in entries] == ["personal_token.created", "organisation.registered"]
        assert_problem(other.get("/api/v1/audit", params={"from": iso(now()), "to": iso(now())}), 422, field="to")


def test_audit_entries_cannot_be_changed_or_deleted(live_portal: LivePortal, pec: Account) -> None:
    engine = sa.create_engine(live_portal.settings.resolved_database_url)
    try:
        for statement in ("UPDATE audit_entries SET actor = 'someone else'", "DELETE FROM audit_entries"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(statement))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM audit_entries")).scalar_one() > 0
    finally:
        engine.dispose()


def test_a_third_organisation_sees_none_of_the_others_subscriptions(live_portal: LivePortal, pec: Account,
                                                                     omis: Account) -> None:
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        sub = request(consumer, publish(provider)["id"], "historical")
        job_id = act(provider, sub["id"], "approve")["transfer"]["id"]
    stranger = live_portal.register("Stranger")
    with live_portal.client(stranger.admin_token) as other:
        assert other.get("/api/v1/subscriptions").json() == {"items": []}
        for path in (f"/api/v1/subscriptions/{sub['id']}", f"/api/v1/subscriptions/{sub['id']}/grant",
                     f"/api/v1/transfers/{job_id}"):
            assert_problem(other.get(path), 404)
        assert_problem(other.post(f"/api/v1/subscriptions/{sub['id']}/verify", json={"grant": "x"}), 404)
    with live_portal.client(pec.admin_token) as consumer:  # and each party sees only its side of things
        mine = consumer.get("/api/v1/subscriptions", params={"role": "provider"}).json()["items"]
        assert sub["id"] not in [s["id"] for s in mine]
