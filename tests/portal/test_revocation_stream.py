"""GET /api/v1/revocations/stream: the feed as it happens, resumable, bounded per organisation, ended with the
caller's token and at the portal's shutdown."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from abm_portal.cli import prepare
from abm_portal.clock import utcnow
from abm_portal.config import Settings
from abm_portal.db import Database
from abm_portal.models import Organisation, Subscription
from abm_portal.services import access_tokens, lifecycle, subscriptions
from abm_portal.services.revocation_stream import MAX_PER_ORG
from tests.e2e.harness import PreparedPortal
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import PROBLEM_JSON, STREAM, Stream, act, assert_problem, opened, publish, request
from tests.support.live_server import loopback_async_client, loopback_client

ARRIVES_WITHIN = 1.0  # the requirement: a revocation reaches a follower within a second

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def revoked_ones(live_portal: LivePortal, consumer: Account, provider: Account, n: int) -> list[str]:
    """``n`` approved real-time subscriptions of ``consumer`` to an asset of ``provider``, not yet revoked."""
    with live_portal.client(provider.admin_token) as api:
        asset = publish(api)
    ids = []
    with live_portal.client(consumer.admin_token) as buyer, live_portal.client(provider.admin_token) as seller:
        for _ in range(n):
            sub = request(buyer, asset["id"])
            act(seller, sub["id"], "approve")
            ids.append(sub["id"])
    return ids


def feed(live_portal: LivePortal, token: str, since: int = 0) -> list[dict[str, Any]]:
    with live_portal.client(token) as api:
        r = api.get("/api/v1/revocations", params={"since": since})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def revoke(live_portal: LivePortal, provider: Account, subscription_id: str) -> float:
    """Revokes as the provider's admin; returns when the portal answered (``time.monotonic``)."""
    with live_portal.client(provider.admin_token) as api:
        act(api, subscription_id, "revoke", reason="contract ended")
    return time.monotonic()


async def test_a_stream_sends_what_came_after_last_event_id_then_each_revocation_within_a_second(
        live_portal: LivePortal, pec: Account, omis: Account) -> None:
    first, second, third = revoked_ones(live_portal, pec, omis, 3)
    revoke(live_portal, omis, first)
    revoke(live_portal, omis, second)
    items = {i["subscriptionId"]: i for i in feed(live_portal, pec.admin_token)}
    token = live_portal.connector_token(pec)
    async with opened(live_portal, token, **{"Last-Event-ID": str(items[first]["seq"])}) as stream:
        backlog = await stream.next()
        assert (backlog.event, backlog.id) == ("revocation", str(items[second]["seq"]))
        assert json.loads(backlog.data) == items[second]  # the feed's item, byte for byte in meaning
        answered = await anyio.to_thread.run_sync(revoke, live_portal, omis, third)
        live = await stream.next()
        arrived = time.monotonic()
    assert json.loads(live.data)["subscriptionId"] == third and live.id is not None
    assert int(live.id) > int(items[second]["seq"])
    assert arrived - answered < ARRIVES_WITHIN
    assert json.loads(live.data) == next(i for i in feed(live_portal, pec.admin_token) if i["seq"] == int(live.id))


def test_a_revocation_committed_in_this_process_wakes_its_streams_at_the_commit(
        live_portal: LivePortal, pec: Account, omis: Account) -> None:
    """Not at the next poll: ``Database.after_revocation`` runs once the transaction that wrote it commits."""
    first, second = revoked_ones(live_portal, pec, omis, 2)
    database = Database(live_portal.settings.resolved_database_url)
    rang: list[str] = []
    database.after_revocation.append(lambda: rang.append("rang"))
    try:
        with database.session() as db:
            actor = access_tokens.actor_for_access_token(db, live_portal.settings, live_portal.connector_token(omis))
            subscriptions.revoke(db, actor, first)
            assert rang == ["rang"]
            subscriptions.revoke(db, actor, first)  # revoked already: nothing written, nothing rung
            lifecycle.move_subscription(db, actor, db.get(Subscription, second), "revoked")
            assert rang == ["rang"]  # written, not yet committed
            db.rollback()
            assert rang == ["rang"]
    finally:
        database.dispose()


async def test_since_resumes_as_last_event_id_does_and_the_provider_follows_its_revocations_too(
        live_portal: LivePortal, pec: Account, omis: Account) -> None:
    (sub,) = revoked_ones(live_portal, pec, omis, 1)
    before = feed(live_portal, omis.admin_token)
    since = before[-1]["seq"] if before else 0
    revoke(live_portal, omis, sub)
    token = live_portal.connector_token(omis)
    async with loopback_async_client(base_url=live_portal.url, timeout=10) as client, \
            client.stream("GET", STREAM, params={"since": since},
                          headers={"Authorization": f"Bearer {token}"}) as response:
        event = await Stream(response).next()
    assert json.loads(event.data)["subscriptionId"] == sub


async def test_an_organisation_that_is_party_to_none_of_them_gets_none_of_them(
        live_portal: LivePortal, pec: Account, omis: Account) -> None:
    """The stranger's stream skips every other organisation's revocation: its first event is its own."""
    stranger = live_portal.register("Stranger")
    (others,) = revoked_ones(live_portal, pec, omis, 1)
    (own,) = revoked_ones(live_portal, stranger, omis, 1)
    async with opened(live_portal, live_portal.connector_token(stranger)) as stream:
        revoke(live_portal, omis, others)
        revoke(live_portal, omis, own)
        event = await stream.next()
    assert json.loads(event.data)["subscriptionId"] == own
    assert [i["subscriptionId"] for i in feed(live_portal, stranger.admin_token)] == [own]


async def test_a_fifth_stream_of_one_organisation_is_refused_with_what_to_do_and_a_closed_one_frees_its_place(
        live_portal: LivePortal) -> None:
    org = live_portal.register("Greedy")
    token = live_portal.connector_token(org)
    async with loopback_async_client(base_url=live_portal.url, timeout=10,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
        held = [await client.send(client.build_request("GET", STREAM), stream=True) for _ in range(MAX_PER_ORG)]
        try:
            assert [r.status_code for r in held] == [200] * MAX_PER_ORG
            refused = await client.get(STREAM)
            assert refused.status_code == 429 and refused.headers["content-type"].startswith(PROBLEM_JSON)
            problem = refused.json()
            assert problem["type"].endswith("/too-many-streams") and problem["status"] == 429
            assert "close one" in problem["detail"] and "/api/v1/revocations?since=" in problem["detail"]
            assert int(refused.headers["Retry-After"]) > 0
            other = live_portal.register("Modest")  # the bound is per organisation
            async with opened(live_portal, live_portal.connector_token(other)):
                pass
            await held.pop().aclose()
            with anyio.fail_after(5):  # the closed stream's place is given up as its response ends
                while (again := await client.send(client.build_request("GET", STREAM), stream=True)).status_code \
                        != 200:
                    await again.aclose()
                    await anyio.sleep(0.05)
            held.append(again)
        finally:
            for response in held:
                await response.aclose()


async def test_a_stream_ends_when_the_callers_access_token_expires(live_portal: LivePortal) -> None:
    org = live_portal.register("Brief")
    settings = live_portal.settings
    with live_portal.database.session() as db:  # a token with one second left, as one fetched long ago
        found = db.get(Organisation, org.org_id)
        assert found is not None
        issued = utcnow() - timedelta(seconds=settings.access_token_ttl_seconds - 1)
        token = access_tokens.issue_access_token(db, settings, found, now=issued).value
    async with opened(live_portal, token) as stream:
        assert await stream.ended(timeout=5)


async def test_without_credentials_or_with_a_bad_last_event_id_the_answer_is_a_problem(
        live_portal: LivePortal, pec: Account) -> None:
    async with loopback_async_client(base_url=live_portal.url, timeout=10) as client:
        anonymous = await client.get(STREAM)
        bad = await client.get(STREAM, headers={"Authorization": f"Bearer {live_portal.connector_token(pec)}",
                                                "Last-Event-ID": "seven"})
    assert_problem(anonymous, 401, says="Authorization: Bearer")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(bad, 422, field="Last-Event-ID", says="Last-Event-ID")


def test_sigterm_ends_open_streams_at_once_and_the_portal_exits(tmp_path: Path) -> None:
    """uvicorn waits for open connections before it shuts down; the portal ends its streams when it hears SIGTERM,
    so the process exits in well under the grace its supervisor gives it."""
    portal = PreparedPortal(tmp_path / "portal")
    prepare(Settings(data_dir=portal.data_dir), make_kek=True)  # what `abm-portal init` does, without its start-up
    portal.start()
    try:
        org = portal.register("Follower", "admin@follower.example")
        token = portal.connector_token(org)
        client = loopback_client(base_url=portal.url, timeout=httpx.Timeout(5, read=20))
        with client, client.stream("GET", STREAM, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status_code == 200
            assert portal.process is not None
            asked = time.monotonic()
            portal.process.terminate()
            for _ in response.iter_bytes():  # until the portal ends the stream
                pass
            ended = time.monotonic() - asked
            portal.process.wait(timeout=10)
            exited = time.monotonic() - asked
    finally:
        portal.stop()
    assert ended < 2.0, f"the stream ended {ended:.2f} s after SIGTERM"
    assert exited < 4.0, f"the portal exited {exited:.2f} s after SIGTERM"
