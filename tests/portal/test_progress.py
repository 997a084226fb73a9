"""Real-time progress (DESIGN §5.4–5.5): both connectors report cumulative figures; the portal keeps the latest of
each side, shows them with the subscription and says whether they reconcile."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from abm_portal.models import Subscription
from abm_portal.services.actors import ORG_MEMBER
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import act, assert_problem, publish, request


@pytest.fixture
def asset(live_portal: LivePortal, omis: Account) -> dict:
    with live_portal.client(omis.admin_token) as provider:
        return publish(provider)


@pytest.fixture
def realtime(live_portal: LivePortal, pec: Account, omis: Account, asset: dict) -> dict:
    """An approved real-time subscription: PEC consumes OMIS's asset."""
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        return act(provider, request(consumer, asset["id"])["id"], "approve")


@pytest.fixture
def connectors(live_portal: LivePortal, pec: Account, omis: Account) -> dict[str, str]:
    """Access tokens of the provider's (OMIS) and the consumer's (PEC) connectors."""
    return {"provider": live_portal.connector_token(omis), "consumer": live_portal.connector_token(pec)}


def _post(live_portal: LivePortal, token: str, sub_id: str, body: dict[str, Any]) -> httpx.Response:
    with live_portal.client(token) as api:
        return api.post(f"/api/v1/subscriptions/{sub_id}/progress", json=body)


def _report(live_portal: LivePortal, token: str, sub_id: str, side: str, count: int, last_seq: int,
            expired: int | None = None, *, expect: int = 200) -> dict:
    body: dict[str, Any] = {"side": side, "count": count, "lastSeq": last_seq}
    if expired is not None:
        body["expired"] = expired
    r = _post(live_portal, token, sub_id, body)
    assert r.status_code == expect, r.text
    return dict(r.json())


def _subscription(live_portal: LivePortal, account: Account, sub_id: str) -> dict:
    with live_portal.client(account.admin_token) as api:
        return dict(api.get(f"/api/v1/subscriptions/{sub_id}").json())


def _figures(side: dict | None) -> tuple[int, int, int] | None:
    return None if side is None else (side["count"], side["lastSeq"], side["expired"])


def _trail(live_portal: LivePortal, account: Account, sub_id: str) -> list[tuple]:
    with live_portal.client(account.admin_token) as api:
        items = api.get("/api/v1/audit").json()["items"]
    return [(e["action"], e["before"], e["after"], e["actor"]) for e in reversed(items) if sub_id in e["subject"]]


@contextmanager
def _statements(live_portal: LivePortal) -> Iterator[list[str]]:
    """The SQL the portal runs meanwhile (its server runs in this process, on this engine)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(live_portal.database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(live_portal.database.engine, "before_cursor_execute", record)


def test_both_sides_report_and_the_subscription_shows_reconciled_figures(
        live_portal: LivePortal, pec: Account, omis: Account, realtime: dict, connectors: dict[str, str]) -> None:
    assert realtime["progress"] == {"provider": None, "consumer": None, "reconciled": False}

    sent = _report(live_portal, connectors["provider"], realtime["id"], "provider", 130, 132, 2)
    assert (_figures(sent["provider"]), sent["consumer"], sent["reconciled"]) == ((130, 132, 2), None, False)
    behind = _report(live_portal, connectors["consumer"], realtime["id"], "consumer", 120, 122)
    assert (_figures(behind["consumer"]), behind["reconciled"]) == ((120, 122, 0), False)  # still in flight

    stored = _report(live_portal, connectors["consumer"], realtime["id"], "consumer", 128, 132)
    assert (_figures(stored["provider"]), _figures(stored["consumer"]), stored["reconciled"]) == (
        (130, 132, 2), (128, 132, 0), True)  # 130 sent = 128 stored + 2 expired, both up to #132
    for account in (pec, omis):
        assert _subscription(live_portal, account, realtime["id"])["progress"] == stored
    reported_at = datetime.fromisoformat(stored["consumer"]["reportedAt"])
    assert reported_at.utcoffset() == timedelta(0)
    assert datetime.now(UTC) - timedelta(minutes=1) < reported_at <= datetime.now(UTC)


def test_the_first_report_activates_an_approved_subscription_and_reports_are_not_audited(
        live_portal: LivePortal, pec: Account, omis: Account, realtime: dict, connectors: dict[str, str]) -> None:
    assert realtime["state"] == "approved"
    _report(live_portal, connectors["consumer"], realtime["id"], "consumer", 0, 0)
    assert _subscription(live_portal, omis, realtime["id"])["state"] == "active"
    _report(live_portal, connectors["provider"], realtime["id"], "provider", 5, 5)
    _report(live_portal, connectors["consumer"], realtime["id"], "consumer", 5, 5)

    expected = [("subscription.requested", None, "requested", f"{pec.admin_email} (personal token)"),
                ("subscription.approved", "requested", "approved", f"{omis.admin_email} (personal token)"),
                ("subscription.active", "approved", "active", f"connector {pec.client_id}")]
    assert _trail(live_portal, omis, realtime["id"]) == expected
    assert _trail(live_portal, pec, realtime["id"]) == expected


def test_a_stale_report_is_ignored_and_the_current_figures_come_back(
        live_portal: LivePortal, omis: Account, realtime: dict, connectors: dict[str, str]) -> None:
    token, sub_id = connectors["provider"], realtime["id"]
    current = _report(live_portal, token, sub_id, "provider", 20, 25, 1)["provider"]

    for count, last_seq in ((15, 20), (19, 30), (25, 24)):  # both lower; a lower count; a lower lastSeq
        assert _report(live_portal, token, sub_id, "provider", count, last_seq, 0)["provider"] == current
    assert _subscription(live_portal, omis, sub_id)["progress"]["provider"] == current  # reportedAt too

    again = _report(live_portal, token, sub_id, "provider", 20, 25, 0)["provider"]  # not lower: taken, restamped
    assert _figures(again) == (20, 25, 0) and again["reportedAt"] > current["reportedAt"]
    assert _figures(_report(live_portal, token, sub_id, "provider", 21, 26, 0)["provider"]) == (21, 26, 0)


def test_concurrent_reports_keep_the_highest_figures(live_portal: LivePortal, omis: Account, realtime: dict,
                                                     connectors: dict[str, str]) -> None:
    figures = list(range(1, 25))
    random.shuffle(figures)  # retries after an outage arrive in any order, several at once

    def send(n: int) -> int:
        return _post(live_portal, connectors["provider"], realtime["id"],
                     {"side": "provider", "count": n, "lastSeq": n + 3}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(send, figures)) == {200}
    shown = _subscription(live_portal, omis, realtime["id"])
    assert (_figures(shown["progress"]["provider"]), shown["state"]) == ((24, 27, 0), "active")
    assert [a for a, *_ in _trail(live_portal, omis, realtime["id"])].count("subscription.active") == 1


def test_each_side_reports_only_for_itself(live_portal: LivePortal, pec: Account, realtime: dict,
                                           connectors: dict[str, str]) -> None:
    as_provider = _report(live_portal, connectors["consumer"], realtime["id"], "provider", 1, 1, expect=403)
    assert "report side consumer" in as_provider["detail"]
    as_consumer = _report(live_portal, connectors["provider"], realtime["id"], "consumer", 1, 1, expect=403)
    assert "report side provider" in as_consumer["detail"]
    shown = _subscription(live_portal, pec, realtime["id"])  # neither refused report was kept, nor activated it
    assert (shown["state"], shown["progress"]) == ("approved", {"provider": None, "consumer": None,
                                                                "reconciled": False})


def test_an_admin_may_report_but_a_member_may_not_and_a_stranger_finds_nothing(
        live_portal: LivePortal, pec: Account, realtime: dict) -> None:
    by_admin = _report(live_portal, pec.admin_token, realtime["id"], "consumer", 3, 3)
    assert _figures(by_admin["consumer"]) == (3, 3, 0)
    member = _post(live_portal, live_portal.add_person(pec, ORG_MEMBER), realtime["id"],
                   {"side": "consumer", "count": 4, "lastSeq": 4})
    assert_problem(member, 403, says="administrator or a connector")
    stranger = live_portal.register("Stranger")
    for token in (stranger.admin_token, live_portal.connector_token(stranger)):
        for side in ("provider", "consumer"):
            assert_problem(_post(live_portal, token, realtime["id"], {"side": side, "count": 4, "lastSeq": 4}),
                           404, says="no such subscription")
    assert_problem(_post(live_portal, pec.admin_token, "no-such-id", {"side": "consumer", "count": 4, "lastSeq": 4}),
                   404, says="no such subscription")


def test_a_historical_subscription_is_told_to_report_its_transfer(live_portal: LivePortal, pec: Account,
                                                                  omis: Account, asset: dict) -> None:
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        historical = act(provider, request(consumer, asset["id"], "historical")["id"], "approve")
    r = _post(live_portal, live_portal.connector_token(omis), historical["id"],
              {"side": "provider", "count": 7, "lastSeq": 7})
    assert_problem(r, 409, says=f"POST /api/v1/transfers/{historical['transfer']['id']}/reports")
    assert _subscription(live_portal, pec, historical["id"])["state"] == "approved"  # not activated


def test_a_requested_or_rejected_subscription_takes_no_reports(live_portal: LivePortal, pec: Account,
                                                                omis: Account, asset: dict) -> None:
    token = live_portal.connector_token(pec)
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        requested = request(consumer, asset["id"])
        assert_problem(_post(live_portal, token, requested["id"], {"side": "consumer", "count": 0, "lastSeq": 0}),
                       409, says="requested: nothing flows before the provider approves it")
        act(provider, requested["id"], "reject", reason="Not now")
    assert_problem(_post(live_portal, token, requested["id"], {"side": "consumer", "count": 0, "lastSeq": 0}),
                   409, says="rejected")
    assert _subscription(live_portal, pec, requested["id"])["progress"] == {"provider": None, "consumer": None,
                                                                            "reconciled": False}


@pytest.mark.parametrize(("body", "field"), [
    ({"side": "provider", "count": -1, "lastSeq": 0}, "count"),
    ({"side": "provider", "count": 1, "lastSeq": -5}, "lastSeq"),
    ({"side": "provider", "count": 1, "lastSeq": 1, "expired": -1}, "expired"),
    ({"side": "provider", "count": 10**12 + 1, "lastSeq": 1}, "count"),
    ({"side": "provider", "count": True, "lastSeq": 1}, "count"),
    ({"side": "provider", "count": "5", "lastSeq": 1}, "count"),
    ({"side": "provider", "count": 1.5, "lastSeq": 1}, "count"),
    ({"side": "provider", "count": 1}, "lastSeq"),
    ({"side": "provider", "count": 1, "lastSeq": 1, "total": 1}, "total"),
    ({"side": "both", "count": 1, "lastSeq": 1}, "side"),
    ({"side": "consumer", "count": 1, "lastSeq": 1, "expired": 2}, "expired"),  # only deliveries expire
])
def test_a_bad_report_is_422_naming_the_field(live_portal: LivePortal, pec: Account, omis: Account,
                                              realtime: dict, body: dict[str, Any], field: str) -> None:
    token = pec.admin_token if body["side"] == "consumer" else omis.admin_token
    assert_problem(_post(live_portal, token, realtime["id"], body), 422, field=field)
    assert _subscription(live_portal, omis, realtime["id"])["progress"]["provider"] is None


@pytest.mark.parametrize("ending", ["revoke", "cancel", "expire"])
def test_an_ended_subscription_still_takes_final_reports(live_portal: LivePortal, pec: Account, omis: Account,
                                                         realtime: dict, connectors: dict[str, str],
                                                         ending: str) -> None:
    _report(live_portal, connectors["provider"], realtime["id"], "provider", 10, 10)
    if ending == "expire":
        with live_portal.database.session() as db:  # the window closes: move its end into the past
            row = db.get(Subscription, realtime["id"])
            assert row is not None
            row.valid_to = datetime.now(UTC) - timedelta(seconds=1)
            db.add(row)
            db.commit()
    else:
        with live_portal.client(omis.admin_token if ending == "revoke" else pec.admin_token) as party:
            act(party, realtime["id"], ending)
    state = {"revoke": "revoked", "cancel": "cancelled", "expire": "expired"}[ending]

    # Cut off while the portal was down, both connectors report what they had when it returns.
    _report(live_portal, connectors["provider"], realtime["id"], "provider", 42, 42)
    final = _report(live_portal, connectors["consumer"], realtime["id"], "consumer", 42, 42)
    assert (_figures(final["provider"]), _figures(final["consumer"]), final["reconciled"]) == (
        (42, 42, 0), (42, 42, 0), True)
    shown = _subscription(live_portal, pec, realtime["id"])
    assert (shown["state"], shown["progress"]) == (state, final)


def test_the_list_shows_progress_for_realtime_and_null_for_historical_in_one_query(
        live_portal: LivePortal, pec: Account, omis: Account, asset: dict, connectors: dict[str, str]) -> None:
    with live_portal.client(omis.admin_token) as provider, live_portal.client(pec.admin_token) as consumer:
        live = [act(provider, request(consumer, asset["id"])["id"], "approve") for _ in range(3)]
        historical = act(provider, request(consumer, asset["id"], "historical")["id"], "approve")
    for n, sub in enumerate(live):
        _report(live_portal, connectors["provider"], sub["id"], "provider", n, n)

    with live_portal.client(pec.admin_token) as consumer, _statements(live_portal) as statements:
        items = consumer.get("/api/v1/subscriptions", params={"role": "consumer"}).json()["items"]
    listed = {s["id"]: s for s in items}
    assert [_figures(listed[s["id"]]["progress"]["provider"]) for s in live] == [(0, 0, 0), (1, 1, 0), (2, 2, 0)]
    assert all(listed[s["id"]]["progress"]["consumer"] is None for s in live)
    assert (listed[historical["id"]]["progress"], listed[historical["id"]]["transfer"]["state"]) == (None, "pending")
    assert len([s for s in statements if "subscription_progress" in s]) == 1
