"""The control plane follows the portal's revocation stream: a revocation ends the subscription's channels within a
second of the portal's answer, a dropped stream resumes after the last revocation taken and misses none, and only
the worker in charge follows.

Real parts: a portal on a real uvicorn (in this process, SQLite), the connector's ``PortalClient`` over loopback
(through a TCP relay that can cut the network), a migrated AAdSys database for the ledger and the trust cache on
disk. The data planes are a recorder of ``DataFlows.terminate``: what ending a channel does is the channel tests'
business (``test_channel.py``), and ``tests/e2e/test_revocation.py`` runs it end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from aadsys.gateway.context import AadsysContext
from aas_models import Owner
from abm_portal.app import create_app
from abm_portal.cli import prepare
from abm_portal.config import Settings as PortalSettings
from abm_portal.models import RevocationStream
from abm_portal.services import organisations, personal_tokens, users
from connector._clock import SystemClock
from connector._identity import load_or_create
from connector._metrics import ConnectorMetrics
from connector._settings import ConnectorSettings
from connector.codes import Code
from connector.control._ledger import Ledger
from connector.control._plane import IDLE_BACKOFF, ControlPlane, next_pause
from connector.control._portal import PortalClient
from connector.control._trust import TrustStore
from connector.spi import Progress, Role, SubscriptionView, TransferResult
from tests.support.live_server import live_server, loopback_client

pytestmark = pytest.mark.anyio
PASSWORD = "correct horse battery staple"
REVOKES = 20  # for the propagation figures
WITHIN = 1.0  # seconds from the portal's answer (it answers after its commit) to the channels' end, at p99


# -- the portal and its organisations ------------------------------------------------------------------------------

@dataclass
class Member:
    org_id: str
    admin_token: str
    client_id: str
    client_secret: str


@dataclass
class Portal:
    url: str
    app: Any

    def register(self, name: str) -> Member:
        run = uuid.uuid4().hex[:6]
        with self.app.state.portal.database.session() as db:
            org, admin, secret = organisations.register_organisation(
                db, name=f"{name} {run}", description="", admin_email=f"admin-{run}@{name.lower()}.example",
                admin_password=PASSWORD)
            token = personal_tokens.create_personal_token(db, users.actor_for_user(db, admin), "tests")
        return Member(org.id, token, org.client_id, secret)

    def api(self, member: Member) -> httpx.Client:
        return loopback_client(base_url=self.url, headers={"Authorization": f"Bearer {member.admin_token}"})

    def approved(self, provider: Member, consumer: Member, n: int) -> list[str]:
        """``n`` approved real-time subscriptions of ``consumer`` to an asset ``provider`` publishes."""
        slug = f"sales-order-{uuid.uuid4().hex[:6]}"
        with self.api(provider) as seller, self.api(consumer) as buyer:
            asset = seller.post("/api/v1/assets", json={"name": f"Orders {slug}", "assetType": slug})
            assert asset.status_code == 201, asset.text
            start = datetime.now(UTC).replace(microsecond=0)
            ids = []
            for _ in range(n):
                sub = buyer.post("/api/v1/subscriptions", json={
                    "assetId": asset.json()["id"], "mode": "realtime", "validFrom": start.isoformat(),
                    "validTo": (start + timedelta(days=30)).isoformat()})
                assert sub.status_code == 201, sub.text
                seller.post(f"/api/v1/subscriptions/{sub.json()['id']}/approve").raise_for_status()
                ids.append(sub.json()["id"])
        return ids

    def revoke(self, provider: Member, subscription_id: str) -> float:
        """As the provider's admin in the portal; returns the moment the portal answered (monotonic)."""
        with self.api(provider) as api:
            api.post(f"/api/v1/subscriptions/{subscription_id}/revoke",
                     json={"reason": "the contract ended"}).raise_for_status()
        return time.monotonic()

    def open_streams(self, member: Member) -> int:
        with self.app.state.portal.database.session() as db:
            return len(db.exec(select(RevocationStream).where(RevocationStream.org_id == member.org_id)).all())


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    root = tmp_path_factory.mktemp("portal")
    settings = PortalSettings(data_dir=root, database_url=f"sqlite:///{root / 'portal.db'}")
    prepare(settings, make_kek=True)
    app = create_app(settings)
    with live_server(app) as url:
        yield Portal(url, app)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the network between the connector and the portal ------------------------------------------------------------

class Relay:
    """A TCP relay on loopback in front of the portal: ``cut`` drops every connection and refuses new ones until
    ``mend``, as a network outage would."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.down = False
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        both = [asyncio.ensure_future(_pipe(reader, up_writer)), asyncio.ensure_future(_pipe(up_reader, writer))]
        self._pipes.update(both)
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in both:
                task.cancel()
                self._pipes.discard(task)
            for end in (writer, up_writer):
                end.close()

    def cut(self) -> None:
        self.down = True
        for task in list(self._pipes):
            task.cancel()

    def mend(self) -> None:
        self.down = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


# -- the connector's control plane, with a recorder for data planes ------------------------------------------------

@dataclass
class Ended:
    subscription_id: str
    code: Code
    at: float


@dataclass
class Recorder:
    """The data planes as the control plane drives them: when each subscription's channels were told to end."""

    ended: list[Ended] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        pass

    async def terminate(self, subscription_id: str, code: Code, reason: str) -> None:
        self.ended.append(Ended(subscription_id, code, time.monotonic()))
        self.changed.set()

    async def until_ended(self, subscription_id: str, timeout: float = 5.0) -> Ended:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    found = [e for e in self.ended if e.subscription_id == subscription_id]
                    if found:
                        return found[0]
                    self.changed.clear()
                    await self.changed.wait()
        raise AssertionError(f"subscription {subscription_id} was not ended within {timeout} s")


class NoProgress:
    def progress_of(self, views: Sequence[SubscriptionView]) -> dict[str, Progress]:
        return {view.id: Progress(0, 0, 0) for view in views}

    def finished_transfers(self) -> list[TransferResult]:
        return []

    def transfer_reported(self, subscription_id: str) -> None:
        pass

    def transfer_failed(self, subscription_id: str, reason: str) -> None:
        pass


@dataclass
class Charge:
    """Whether this worker holds the control lease, as the connector's lease keeper answers it; counts the asking."""

    held: bool
    asked: int = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.held


@dataclass
class Follower:
    control: ControlPlane
    flows: Recorder
    ledger: Ledger
    trust: TrustStore
    relay: Relay
    charge: Charge

    async def until(self, predicate: Any, what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"not {what} within {timeout} s"
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def following(portal: Portal, member: Member, ctx: AadsysContext, tmp_path: Path, *,
                    in_charge: bool = True) -> AsyncIterator[Follower]:
    """The provider's control plane following the portal's stream, in a task of its own, through a relay."""
    relay = Relay(portal.url)
    await relay.start()
    client = PortalClient(relay.url, member.client_id, member.client_secret, timeout=5)
    trust, ledger, flows, charge = TrustStore(tmp_path / "trust.json"), Ledger(ctx.db), Recorder(), Charge(in_charge)
    tuning = ConnectorSettings(reconnect_min_seconds=0.1, reconnect_max_seconds=0.5)
    control = ControlPlane(settings=tuning, identity=load_or_create(tmp_path / "keys"), portal=client, trust=trust,
                           ledger=ledger, progress=NoProgress(), owner=Owner("pec", "https://pec.example"),
                           public_url="https://pec.example", asset_types=frozenset, clock=SystemClock(),
                           metrics=ConnectorMetrics(ctx.metrics), in_charge=charge)
    control.drive(flows)
    task = asyncio.create_task(control.follow_revocations())
    try:
        yield Follower(control, flows, ledger, trust, relay, charge)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()
        await relay.stop()


def known_to_the_ledger(portal: Portal, member: Member, ledger: Ledger, subscription_ids: Sequence[str]) -> None:
    """The provider's ledger holds them as the portal shows them (as a round of the control plane leaves it)."""
    with portal.api(member) as api:
        items = {s["id"]: s for s in api.get("/api/v1/subscriptions").raise_for_status().json()["items"]}
    for subscription_id in subscription_ids:
        ledger.upsert(items[subscription_id], Role.PROVIDER, member.org_id)


# -- tests ---------------------------------------------------------------------------------------------------------

async def test_a_revocation_at_the_portal_ends_the_channels_here_within_a_second(
        portal: Portal, pec_sqlite: AadsysContext, tmp_path: Path) -> None:
    pec, omis = portal.register("PEC"), portal.register("OMIS")
    subs = portal.approved(pec, omis, REVOKES)
    async with following(portal, pec, pec_sqlite, tmp_path) as follower:
        known_to_the_ledger(portal, pec, follower.ledger, subs)
        await follower.until(lambda: follower.control.status.following, "following the stream")
        delays, after_answer = [], []
        with portal.api(pec) as admin:
            for sub in subs:
                asked = time.monotonic()  # the portal's own handling counts too: it answers after its commit
                answer = await asyncio.to_thread(admin.post, f"/api/v1/subscriptions/{sub}/revoke",
                                                 json={"reason": "the contract ended"})
                answered = time.monotonic()
                assert answer.status_code == 200, answer.text
                ended = await follower.flows.until_ended(sub)
                assert ended.code is Code.REVOKED
                delays.append(ended.at - asked)
                after_answer.append(max(0.0, ended.at - answered))
    rows = {row.id: row for row in follower.ledger.rows()}
    assert {rows[sub].state for sub in subs} == {"revoked"}
    assert rows[subs[0]].reason == "the contract ended"
    print(f"revocation stream, {len(delays)} revocations: revoke asked at the portal → channels ended here "
          f"{_figures(delays)}; portal's answer → channels ended {_figures(after_answer)}")
    assert _p99(after_answer) < WITHIN, sorted(after_answer)  # the request's handling is not propagation


def _p99(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _figures(values: Sequence[float]) -> str:
    return (f"p50 {statistics.median(values) * 1000:.0f} ms, p99 {_p99(values) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms")


async def test_a_stream_cut_off_resumes_after_the_last_revocation_taken_and_misses_none(
        portal: Portal, pec_sqlite: AadsysContext, tmp_path: Path) -> None:
    pec, omis = portal.register("PEC"), portal.register("OMIS")
    first, second, third = portal.approved(pec, omis, 3)
    async with following(portal, pec, pec_sqlite, tmp_path) as follower:
        await follower.until(lambda: follower.control.status.following, "following the stream")
        await asyncio.to_thread(portal.revoke, pec, first)
        await follower.flows.until_ended(first)
        taken = follower.trust.trust.revocations_since

        follower.relay.cut()  # the network goes; the portal writes two more while the connector cannot hear
        await follower.until(lambda: not follower.control.status.following, "noticing the stream is gone")
        await asyncio.to_thread(portal.revoke, pec, second)
        await asyncio.to_thread(portal.revoke, pec, third)
        follower.relay.mend()

        await follower.flows.until_ended(third)
        assert [e.subscription_id for e in follower.flows.ended] == [first, second, third]  # none twice, none lost
    assert follower.trust.trust.revocations_since > taken
    assert TrustStore(follower.trust.path).trust.revocations_since == follower.trust.trust.revocations_since  # on disk


async def test_only_the_worker_in_charge_follows_the_stream(portal: Portal, pec_sqlite: AadsysContext,
                                                            tmp_path: Path) -> None:
    pec = portal.register("PEC")
    async with following(portal, pec, pec_sqlite, tmp_path, in_charge=False) as follower:
        await follower.until(lambda: follower.charge.asked >= 2, "asking twice whether it is in charge")
        assert not follower.control.status.following and portal.open_streams(pec) == 0
        follower.charge.held = True
        await follower.until(lambda: portal.open_streams(pec) == 1, "a stream open at the portal")
        follower.charge.held = False  # another worker took the control lease over
        await follower.until(lambda: portal.open_streams(pec) == 0, "the stream given up", timeout=3)
        assert not follower.control.status.following


async def test_a_round_that_finds_nothing_changed_is_quiet_and_a_change_at_the_portal_is_not(
        portal: Portal, pec_sqlite: AadsysContext, tmp_path: Path) -> None:
    """Quiet rounds back the polling off (``ControlPlane.run``); a subscription the portal shows changed ends it."""
    pec, omis = portal.register("PEC"), portal.register("OMIS")
    first, _ = portal.approved(pec, omis, 2)
    async with following(portal, pec, pec_sqlite, tmp_path) as follower:
        rounds = [await follower.control.round() for _ in range(4)]
        # the first takes the subscriptions in, the second sees the figures the first reported; then all is quiet
        assert rounds == [False, False, True, True]
        await asyncio.to_thread(portal.revoke, pec, first)
        await follower.flows.until_ended(first)  # taken from the stream into the ledger
        after = [await follower.control.round() for _ in range(3)]
        assert after[0] is False and after[-1] is True, after


def test_quiet_rounds_double_the_pause_up_to_its_bound_and_a_round_with_a_change_resets_it() -> None:
    poll, pauses, pause = 5.0, [], 5.0
    for quiet in (True, True, True, True, False, True):
        pause = next_pause(pause, quiet, poll)
        pauses.append(pause)
    assert pauses == [10.0, 20.0, 20.0, 20.0, 5.0, 10.0]
    assert IDLE_BACKOFF * poll == 20.0
