"""A portal with no single point of failure: two ``abm-portal serve`` on one PostgreSQL behind nginx
(``deploy/nginx/abm-portal.conf``, TLS at the proxy), the first one process, the second two uvicorn workers.
Either answers any request; sessions, throttling counts, signing keys and the expiry sweep's work are shared
through the database; one worker killed with SIGKILL in a burst of logins, token requests, approvals and grant
fetches fails no request past the proxy's retry.

The last test kills a worker: the tests before it find both running.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest
from sqlmodel import col, func, select

from abm_portal.models import AuditEntry, AuthThrottle, PortalSecret, Revocation, SigningKey, Subscription
from abm_portal.services import throttle
from abm_portal.services.revocation_stream import MAX_PER_ORG as MAX_STREAMS_PER_ORG
from tests.portal.cluster import PROXY_ADDRESS, PortalCluster, portal_cluster
from tests.portal.conftest import PASSWORD, Account
from tests.portal.flows import STREAM as REVOCATION_STREAM
from tests.portal.flows import act, connector_keys, opened, publish, request, web_login
from tests.support.live_server import loopback_client, loopback_get
from tests.support.postgres import PostgresServer

# The first test also waits for the cluster to start: four interpreters at once, slow on a busy 2-core machine.
pytestmark = pytest.mark.timeout(240)
FREE_ADDRESS_FAILURES = 3
LIMITS = {"expiry_sweep_seconds": "0.2", "auth_address_free_failures": str(FREE_ADDRESS_FAILURES),
          "auth_address_lockout_failures": "50", "auth_backoff_base_seconds": "60"}
SIGNED_IN = "Log out"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[PortalCluster]:
    with portal_cluster(tmp_path_factory.mktemp("cluster"), postgres_server, **LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def maker(cluster: PortalCluster) -> Account:
    return cluster.portal().register("Maker")


def _throttled_addresses(cluster: PortalCluster) -> dict[str, int]:
    with cluster.database().session() as db:
        rows = db.exec(select(AuthThrottle).where(col(AuthThrottle.scope) == throttle.ADDRESS)).all()
        return {row.key: row.failures for row in rows}


def test_workers_started_together_made_one_schema_one_signing_key_and_one_session_key(
        cluster: PortalCluster) -> None:
    with cluster.database().session() as db:
        assert db.exec(select(func.count()).select_from(SigningKey)).one() == 1
        assert db.exec(select(func.count()).select_from(PortalSecret)).one() == 1
    jwks = [loopback_get(f"{worker.url}/.well-known/jwks.json").json() for worker in cluster.workers]
    assert jwks[0] == jwks[1] and len(jwks[0]["keys"]) == 1


def test_a_session_begun_through_either_worker_is_signed_in_on_every_worker(cluster: PortalCluster,
                                                                          maker: Account) -> None:
    with cluster.client() as browser:
        assert web_login(browser, maker.admin_email, PASSWORD, "/").status_code == 303
        session = browser.cookies["abm_session"]
    for worker in cluster.workers:  # the cookie is Secure (https at the proxy): sent by hand over plain http
        page = loopback_get(f"{worker.url}/", headers={"Cookie": f"abm_session={session}"})
        assert page.status_code == 200 and SIGNED_IN in page.text, worker.url


def test_behind_the_proxy_login_throttling_counts_the_real_client_address(cluster: PortalCluster,
                                                                         maker: Account) -> None:
    with cluster.client(source="127.0.0.3") as guesser:
        for _ in range(FREE_ADDRESS_FAILURES + 1):
            assert web_login(guesser, f"nobody-{time.monotonic_ns()}@x.example", "wrong").status_code == 401
        refused = web_login(guesser, maker.admin_email, PASSWORD)  # the right password, from that address
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    with cluster.client(source="127.0.0.4") as colleague:  # same proxy, another client: not held up
        assert web_login(colleague, maker.admin_email, PASSWORD, "/").status_code == 303
    counted = _throttled_addresses(cluster)
    assert counted["127.0.0.3"] == FREE_ADDRESS_FAILURES + 2  # the refused attempt counts too
    assert PROXY_ADDRESS not in counted and "127.0.0.4" not in counted


def test_an_x_forwarded_for_a_client_writes_itself_is_ignored(cluster: PortalCluster) -> None:
    forged = {"X-Forwarded-For": "198.51.100.7"}
    with loopback_client(base_url=cluster.workers[0].url,
                         headers=forged) as direct:  # from 127.0.0.1: no proxy
        form = direct.get("/login")  # plain http to the worker: the Secure session cookie goes back by hand
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        answer = direct.post("/login", data={"csrf_token": token.group(1), "email": "nobody@x.example",
                                             "password": "wrong"},
                             headers={"Cookie": f"abm_session={form.cookies['abm_session']}"})
        assert answer.status_code == 401
    with cluster.client(source="127.0.0.5", headers={"X-Forwarded-For": "198.51.100.8"}) as through_proxy:
        assert web_login(through_proxy, "nobody@x.example", "wrong").status_code == 401
    counted = _throttled_addresses(cluster)
    assert counted.get("127.0.0.1") and counted.get("127.0.0.5")
    assert "198.51.100.7" not in counted and "198.51.100.8" not in counted


BURST_ROUNDS = 12  # each round: a login (3 requests), a token, an approval and a grant fetch
KILL_AFTER = 16  # tasks done before worker 0 is killed
EXPIRIES = 10


def _connector_token(cluster: PortalCluster, account: Account) -> str:
    with cluster.client() as anonymous:
        response = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  auth=(account.client_id, account.client_secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_revocation_written_by_one_worker_reaches_a_stream_served_by_another_within_a_second(
        cluster: PortalCluster, maker: Account) -> None:
    """The worker serving the stream did not write the revocation: it learns of it by its poll (0.5 s). A stream
    through the proxy gets each one as soon (nginx passes events on unbuffered)."""
    portal = cluster.portal()
    buyer = portal.register("Follower")
    with cluster.client(maker.admin_token) as seller, cluster.client(buyer.admin_token) as consumer:
        asset = publish(seller)
        subs = [request(consumer, asset["id"])["id"] for _ in range(3)]
        for sub in subs:
            act(seller, sub, "approve")
    token = _connector_token(cluster, buyer)
    stream_on, revoke_on = cluster.workers[0], cluster.workers[1]
    delays = []
    async with opened(stream_on.url, token) as direct, opened(cluster.url, token, verify=cluster.tls()) as proxied:
        with loopback_client(base_url=revoke_on.url,
                             headers={"Authorization": f"Bearer {maker.admin_token}"}) as provider:
            for sub in subs:
                await anyio.to_thread.run_sync(lambda s=sub: act(provider, s, "revoke"))
                answered = time.monotonic()
                for stream in (direct, proxied):
                    event = await stream.next()
                    assert json.loads(event.data)["subscriptionId"] == sub
                    delays.append(time.monotonic() - answered)
    print(f"revocation stream across workers: {', '.join(f'{d * 1000:.0f}' for d in delays)} ms")
    assert max(delays) < 1.0, delays


def test_an_organisations_streams_are_counted_across_every_worker(cluster: PortalCluster) -> None:
    portal = cluster.portal()
    org = portal.register("Greedy")
    token = _connector_token(cluster, org)
    clients = [loopback_client(base_url=worker.url,
                               headers={"Authorization": f"Bearer {token}"})
               for worker in cluster.workers]
    held: list[httpx.Response] = []
    try:
        for n in range(MAX_STREAMS_PER_ORG):  # spread over the workers
            client = clients[n % len(clients)]
            held.append(client.send(client.build_request("GET", REVOCATION_STREAM), stream=True))
        assert [r.status_code for r in held] == [200] * MAX_STREAMS_PER_ORG
        for client in clients:
            refused = client.get(REVOCATION_STREAM)
            assert refused.status_code == 429, refused.text
            assert "close one" in refused.json()["detail"]
    finally:
        for response in held:
            response.close()
        for client in clients:
            client.close()


def test_a_worker_killed_in_a_burst_fails_no_request_and_each_expiry_is_recorded_once(
        cluster: PortalCluster, maker: Account) -> None:
    portal = cluster.portal()
    buyer = portal.register("Buyer")
    with cluster.client() as anonymous:
        token = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(buyer.client_id, buyer.client_secret)).json()["access_token"]
    with cluster.client(token) as connector:
        assert connector.put("/api/v1/connector", json={"endpointUrl": "https://connector.buyer.example:9443",
                                                        **connector_keys()}).status_code == 200
    with cluster.client(maker.admin_token) as owner, cluster.client(buyer.admin_token) as consumer:
        asset = publish(owner)["id"]
        to_approve = [request(consumer, asset)["id"] for _ in range(BURST_ROUNDS)]
        to_fetch = [request(consumer, asset)["id"] for _ in range(3)]
        to_expire = [request(consumer, asset)["id"] for _ in range(EXPIRIES)]
        for sub_id in to_fetch + to_expire:
            act(owner, sub_id, "approve")
    _close_windows_soon(cluster, to_expire)

    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    done, lock, killed_at = [0], threading.Lock(), [0.0]

    def task(kind: str, run: Callable[[], list[httpx.Response]], expected: Callable[[httpx.Response], bool]) -> None:
        try:
            answers = run()
        except Exception as exc:  # a transport error, or a login form without its token (a 502 page)
            answers = []
            failures.append(f"{kind}: {exc!r}")
        for answer in answers:
            outcomes[kind] += 1
            if not expected(answer):
                failures.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
        with lock:
            done[0] += 1
            if done[0] == KILL_AFTER:
                cluster.workers[0].kill()
                killed_at[0] = time.time()

    def login() -> list[httpx.Response]:
        with cluster.client(source="127.0.0.6") as browser:
            answers = [web_login(browser, maker.admin_email, PASSWORD, "/")]
            return [*answers, browser.get("/")]

    def access_token() -> list[httpx.Response]:
        with cluster.client() as client:
            return [client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                auth=(buyer.client_id, buyer.client_secret))]

    def approval(sub_id: str) -> Callable[[], list[httpx.Response]]:
        def run() -> list[httpx.Response]:
            with cluster.client(maker.admin_token) as owner:
                return [owner.post(f"/api/v1/subscriptions/{sub_id}/approve")]
        return run

    def grant(sub_id: str) -> Callable[[], list[httpx.Response]]:
        def run() -> list[httpx.Response]:
            with cluster.client(buyer.admin_token) as consumer:
                return [consumer.get(f"/api/v1/subscriptions/{sub_id}/grant")]
        return run

    def signed_in(r: httpx.Response) -> bool:
        return r.status_code == 303 or (r.status_code == 200 and SIGNED_IN in r.text)

    def approved(r: httpx.Response) -> bool:
        return r.status_code == 200 and r.json()["state"] == "approved"

    def ok(r: httpx.Response) -> bool:
        return r.status_code == 200

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i in range(BURST_ROUNDS):
            pool.submit(task, "login", login, signed_in)
            pool.submit(task, "token", access_token, ok)
            pool.submit(task, "approval", approval(to_approve[i]), approved)
            pool.submit(task, "grant", grant(to_fetch[i % len(to_fetch)]), ok)
    burst_seconds = time.monotonic() - started

    log = cluster.proxy.log_lines()
    dead = cluster.workers[0].address
    retried = [line for line in log if re.search(rf'"{re.escape(dead)}, 127\.0\.0\.1:\d+"', line)]
    expiries = _recorded_expiries(cluster, to_expire, deadline=time.monotonic() + 15)
    before_kill = sum(1 for at in expiries.values() if at < killed_at[0])
    print(f"\nportal chaos: {sum(outcomes.values())} requests through nginx in {burst_seconds:.1f} s "
          f"({dict(outcomes)}), {len(failures)} failed; worker on {dead} killed with SIGKILL after "
          f"{KILL_AFTER} of {4 * BURST_ROUNDS} tasks; nginx passed {len(retried)} request(s) on from the dead "
          f"worker to the other; {len(expiries)} expiries (of {EXPIRIES}), each with one audit row and one "
          f"revocation, {before_kill} recorded while both workers swept")
    assert failures == []
    assert outcomes == {"login": 2 * BURST_ROUNDS, "token": BURST_ROUNDS, "approval": BURST_ROUNDS,
                        "grant": BURST_ROUNDS}
    assert retried, "the proxy never met the dead worker: nothing was retried"
    assert len(expiries) == EXPIRIES


def _close_windows_soon(cluster: PortalCluster, sub_ids: list[str]) -> None:
    """The windows of ``sub_ids`` close one after the other within the next second and a half."""
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    with cluster.database().session() as db:
        for i, sub_id in enumerate(sub_ids):
            row = db.get(Subscription, sub_id)
            assert row is not None
            row.valid_to = start + timedelta(seconds=0.1 * i)
            db.add(row)
        db.commit()


def _recorded_expiries(cluster: PortalCluster, sub_ids: list[str], deadline: float) -> dict[str, float]:
    """Once every subscription is expired: when each expiry was recorded (epoch seconds); asserts that each has
    exactly one audit row and one revocation."""
    database = cluster.database()
    while True:
        with database.session() as db:
            states = db.exec(select(Subscription.state).where(col(Subscription.id).in_(sub_ids))).all()
        if all(state == "expired" for state in states) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    found: dict[str, float] = {}
    with database.session() as db:
        for sub_id in sub_ids:
            audits = db.exec(select(AuditEntry).where(col(AuditEntry.subject) == f"subscription {sub_id}",
                                                      col(AuditEntry.action) == "subscription.expired")).all()
            revocations = db.exec(select(func.count()).select_from(Revocation)
                                  .where(col(Revocation.subscription_id) == sub_id)).one()
            assert (len(audits), revocations) == (1, 1), (sub_id, len(audits), revocations)
            found[sub_id] = audits[0].at.timestamp()
    return found
