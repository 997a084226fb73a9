"""``GET /metrics`` of the portal: closed without the metrics token; logins, client authentications, tokens and
grants issued, sweeps, and subscriptions and transfers by state."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from aadsys.processes import wait_for
from tests.portal.conftest import PASSWORD, LivePortal, running_portal
from tests.portal.flows import act, publish, register_connector, request
from tests.support.live_server import loopback_client, loopback_get
from tests.support.prometheus import bearer, sample, write_token


@pytest.fixture(scope="module", params=["sqlite"])
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with running_portal(request, tmp_path_factory, expiry_sweep_seconds=0.2, auth_free_failures=1,
                        auth_backoff_base_seconds=30) as running:
        yield running


def scrape(portal: LivePortal) -> str:
    token_file = portal.settings.resolved_metrics_token_file
    token = token_file.read_text().strip() if token_file.exists() else write_token(token_file)
    answer = loopback_get(f"{portal.url}/metrics", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return answer.text


def web_login(portal: LivePortal, email: str, password: str) -> int:
    with loopback_client(base_url=portal.url) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
        assert token
        return browser.post("/login", data={"csrf_token": token.group(1), "email": email, "password": password,
                                            "next": "/catalog"}).status_code


def test_metrics_are_refused_without_the_configured_token(portal: LivePortal) -> None:
    portal.settings.resolved_metrics_token_file.unlink(missing_ok=True)
    closed = loopback_get(f"{portal.url}/metrics")
    assert closed.status_code == 403 and closed.headers["content-type"] == "application/problem+json"
    assert "ABM_PORTAL_METRICS_TOKEN_FILE" in closed.json()["detail"]
    token = write_token(portal.settings.resolved_metrics_token_file)
    with portal.client(portal.register("Anyone").admin_token) as with_a_personal_token:  # a portal token is not it
        assert with_a_personal_token.get("/metrics").status_code == 401
    refused = loopback_get(f"{portal.url}/metrics")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert refused.json()["type"].endswith("/metrics-token-required")
    assert loopback_get(f"{portal.url}/metrics", headers=bearer(token)).status_code == 200


def test_logins_tokens_grants_and_states_are_counted(portal: LivePortal) -> None:
    before = scrape(portal)
    omis, pec = portal.register("OMIS"), portal.register("PEC")
    assert web_login(portal, pec.admin_email, PASSWORD) == 303
    assert web_login(portal, omis.admin_email, "wrong") == 401
    assert web_login(portal, omis.admin_email, "wrong") == 401  # past the free failure: the account waits 30 s
    assert web_login(portal, omis.admin_email, PASSWORD) == 429
    with portal.client() as anonymous:
        assert anonymous.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(pec.client_id, "wrong")).status_code == 401
    register_connector(portal, pec)  # one client authentication, one access token
    with portal.client(omis.admin_token) as provider, portal.client(pec.admin_token) as consumer:
        realtime = request(consumer, publish(provider)["id"])
        historical = request(consumer, publish(provider)["id"], mode="historical")
        request(consumer, publish(provider)["id"])
        act(provider, realtime["id"], "approve")
        act(provider, historical["id"], "approve")
        assert consumer.get(f"/api/v1/subscriptions/{realtime['id']}/grant").status_code == 200
    shown = scrape(portal)

    def moved(name: str, **labels: str) -> float:
        return (sample(shown, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert moved("abm_portal_logins_total", outcome="ok") == 1
    assert moved("abm_portal_logins_total", outcome="failed") == 2
    assert moved("abm_portal_logins_total", outcome="throttled") == 1
    assert moved("abm_portal_client_authentications_total", outcome="ok") == 1
    assert moved("abm_portal_client_authentications_total", outcome="failed") == 1
    assert moved("abm_portal_tokens_issued_total", kind="access") == 1
    assert moved("abm_portal_grants_issued_total") == 1
    assert moved("abm_portal_subscriptions", state="requested") == 1
    assert moved("abm_portal_subscriptions", state="approved") == 2
    assert moved("abm_portal_transfers", state="pending") == 1
    assert sample(shown, "abm_portal_subscriptions", state="revoked") is not None  # every state has a series
    wait_for(lambda: (sample(scrape(portal), "abm_portal_sweep_runs_total", outcome="ok") or 0) > 0,
             "an expiry sweep", timeout=10)
