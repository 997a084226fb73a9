"""Failed logins and client authentications slow down, then lock for a while (audited), across processes.

The portal here uses a 5-second lockout so the tests wait out the window instead of moving a clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from abm_portal.db import Database
from abm_portal.services import throttle
from tests.portal.conftest import PASSWORD, Account, LivePortal, running_portal
from tests.portal.flows import web_login

LOCKOUT_SECONDS = 5  # long enough that a loaded machine makes its 20 attempts inside one lockout
LIMITS: dict[str, Any] = {"auth_free_failures": 3, "auth_lockout_failures": 6, "auth_address_free_failures": 8,
                          "auth_address_lockout_failures": 12, "auth_backoff_base_seconds": 0.5,
                          "auth_lockout_seconds": LOCKOUT_SECONDS}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with running_portal(request, tmp_path_factory, **LIMITS) as running:
        yield running


def _client_token(client: httpx.Client, account: Account, secret: str) -> httpx.Response:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(account.client_id, secret))


def _audit_actions(portal: LivePortal, account: Account) -> list[tuple[str, str]]:
    with portal.client(account.admin_token) as admin:
        entries = admin.get("/api/v1/audit").json()
    items = entries["items"] if isinstance(entries, dict) else entries
    return [(e["action"], e["subject"]) for e in items]


def _wait_out_the_lockout() -> None:
    time.sleep(LOCKOUT_SECONDS + 1.1)  # Retry-After is whole seconds, rounded up


def test_wrong_passwords_are_throttled_then_locked_and_the_login_works_after_the_window(portal: LivePortal) -> None:
    account = portal.register("Throttled")
    with portal.client() as browser:
        answers = [web_login(browser, account.admin_email, "not the password") for _ in range(20)]
        statuses = [r.status_code for r in answers]
        assert statuses[:3] == [401, 401, 401], statuses  # the free failures
        assert statuses[-10:] == [429] * 10, statuses
        refused = answers[-1]
        assert 1 <= int(refused.headers["Retry-After"]) <= LOCKOUT_SECONDS
        assert refused.headers["content-type"].startswith("text/html")
        assert "Too many failed logins" in refused.text and "Wait " in refused.text

        during_lock = web_login(browser, account.admin_email, PASSWORD)
        assert during_lock.status_code == 429, "the right password must not get in during a lockout"
        assert "Retry-After" in during_lock.headers

        _wait_out_the_lockout()
        after = web_login(browser, account.admin_email, PASSWORD)
        assert after.status_code == 303 and after.headers["location"] == "/catalog", after.text
    assert ("auth.locked", f"account {account.admin_email}") in _audit_actions(portal, account)


def test_failures_from_one_address_are_throttled_across_accounts(portal: LivePortal) -> None:
    with portal.client() as browser:
        statuses = [web_login(browser, f"nobody-{uuid.uuid4().hex[:8]}@guess.example", "guess").status_code
                    for _ in range(14)]
    assert statuses[:8] == [401] * 8 and statuses[-2:] == [429, 429], statuses  # 8 free per address here
    _wait_out_the_lockout()


def test_failed_client_authentications_at_the_token_endpoint_are_throttled(portal: LivePortal) -> None:
    account = portal.register("Connector")
    with portal.client() as client:
        answers = [_client_token(client, account, "abms_wrong") for _ in range(20)]
        statuses = [r.status_code for r in answers]
        assert statuses[:3] == [401, 401, 401] and statuses[-10:] == [429] * 10, statuses
        refused = answers[-1]
        assert refused.json()["error"] == "invalid_client" and "Too many" in refused.json()["error_description"]
        assert 1 <= int(refused.headers["Retry-After"]) <= LOCKOUT_SECONDS

        assert _client_token(client, account, account.client_secret).status_code == 429  # right secret, locked
        _wait_out_the_lockout()
        assert _client_token(client, account, account.client_secret).status_code == 200
    assert ("auth.locked", f"client {account.client_id}") in _audit_actions(portal, account)


def test_the_counts_are_shared_by_every_process_through_the_database(portal: LivePortal) -> None:
    account = portal.register("Shared")
    keys = throttle.login_keys(account.admin_email, "192.0.2.7")
    other_process = Database(portal.settings.resolved_database_url)  # as a second worker would open it
    try:
        with other_process.session() as db:
            for _ in range(portal.settings.auth_lockout_failures):
                throttle.record_failure(db, portal.settings, keys)
    finally:
        other_process.dispose()
    with portal.client() as browser:
        assert web_login(browser, account.admin_email, PASSWORD).status_code == 429
    _wait_out_the_lockout()
