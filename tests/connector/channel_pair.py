"""Two connectors' data planes joined in memory, with a manual clock: the channel without processes or sleeps.

``MemoryNetwork`` implements the transport seam (``connector.data._transport``) the way the Socket.IO transport
does, event for event: a consumer dials an endpoint and reaches that provider plane's ``challenge``, ``connect``,
``on_<event>`` and ``download``; the provider's events reach the consumer's receiver in order, asynchronously,
and tier 1 comes back through the ack callback. A ``MemoryConnection`` can lose tier 1, hold tier 2, tamper with
a message in flight or break, as a network or a hostile peer would.

Everything else is real: the provider's and the consumer's planes, their SQLite databases, the outbox, the inbox,
sealing, grants signed with ES256, and the ``Admission`` of the control plane (its portal answers in memory too,
through httpx's transport seam).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import heapq
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from aadsys.gateway.context import AadsysContext
from connector._identity import Identity, load_or_create
from connector._leases import LeaseKeeper, Leases
from connector._metrics import ConnectorMetrics
from connector._refusals import Refusals
from connector._rows import EngineRows
from connector._sealing import prove
from connector._settings import ConnectorSettings
from connector._subscription_figures import SubscriptionFigures
from connector._wire import PROOF_CHANNEL, ChannelAuth
from connector.control._admission import Admission
from connector.control._ledger import Ledger
from connector.control._portal import PortalClient
from connector.control._trust import TrustStore
from connector.data._consumer import ConsumerPlane
from connector.data._history import HistoryJobs
from connector.data._links import Links
from connector.data._outbox import Outbox, provider_figures
from connector.data._provider import ProviderPlane
from connector.data._transport import Channel, ConsumerLink, Receiver, TierOne
from connector.errors import ChannelDown, ChannelRefused, GrantRefused, PortalUnavailable
from connector.spi import Mode, Role, SubscriptionState, SubscriptionView
from tests.support.prometheus import sample

ISSUER = "https://portal.test"
PEC_ORG, OMIS_ORG = "org-pec", "org-omis"
ENDPOINT = "memory://pec"


class ManualClock:
    """A clock that moves only when told: ``advance`` fires every timer it passes."""

    def __init__(self) -> None:
        self._mono = 1000.0
        self._wall = datetime.now(UTC)
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._wall

    async def sleep(self, seconds: float) -> None:
        await self._timer(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        if event.is_set() or timeout <= 0:
            await asyncio.sleep(0)
            return event.is_set()
        timer = self._timer(timeout)  # registered now, before anyone can move the clock
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()
        return event.is_set()

    def _timer(self, seconds: float) -> asyncio.Future[None]:
        """A future that completes when the clock passes ``seconds`` from now (at once if due already)."""
        future = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
        else:
            heapq.heappush(self._timers, (self._mono + seconds, next(self._order), future))
        return future

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)
        while self._timers and self._timers[0][0] <= self._mono:
            _, _, future = heapq.heappop(self._timers)
            if not future.done():
                future.set_result(None)


@dataclass
class Sent:
    event: str
    data: dict[str, Any]


class MemoryConnection:
    """One channel in memory; ``link`` is the provider's end (``ConsumerLink``), ``channel`` the consumer's
    (``Channel``)."""

    def __init__(self, network: MemoryNetwork, conn_id: str, receiver: Receiver) -> None:
        self.network, self.conn_id, self.receiver = network, conn_id, receiver
        self.open = True
        self.sent: list[Sent] = []  # everything the provider sent, in order
        self.drop_tier_one = False  # the consumer's acks of ``instance`` are lost
        self.lose: Callable[[str, dict[str, Any]], bool] = lambda event, data: False  # lost in flight
        self.hold_stored = False  # the consumer's ``stored`` notices are held back (tier 2 does not come)
        self.held: list[dict[str, Any]] = []
        self.tamper: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
        self._outbound: asyncio.Queue[tuple[str, dict[str, Any], TierOne | None] | None] = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._deliver())
        self.link = _ProviderEnd(self)
        self.channel = _ConsumerEnd(self)

    @property
    def provider(self) -> ProviderPlane:
        return self.network.provider

    async def _deliver(self) -> None:
        while (item := await self._outbound.get()) is not None:
            event, data, on_ack = item
            if self.lose(event, data):
                continue
            if self.tamper is not None:
                data = self.tamper(event, copy.deepcopy(data))
            if event == "instance":
                answer = self.receiver.on_instance(data)
                if on_ack is not None and not self.drop_tier_one:
                    on_ack(answer)
            elif event == "history_complete":
                answer = await self.receiver.on_history_complete(data)
                if on_ack is not None:
                    on_ack(answer)
            elif event == "closing":
                self.receiver.on_closing(data)

    async def release_stored(self) -> None:
        self.hold_stored = False
        held, self.held = self.held, []
        for data in held:
            await self.provider.on_stored(self.conn_id, data)

    async def hang_up(self, *, flush: bool) -> None:
        """Either side ends the connection and both hear it, as over a socket; what the provider sent before its
        own hang-up still arrives first (``flush``)."""
        if not self.open:
            return
        self.open = False
        if flush:
            await self._outbound.put(None)
            await asyncio.wait({self._pump})
        self._pump.cancel()
        self.receiver.on_disconnect()
        await self.provider.disconnected(self.conn_id)


class _ProviderEnd:
    def __init__(self, connection: MemoryConnection) -> None:
        self.c = connection

    async def send(self, event: str, data: dict[str, Any], on_ack: TierOne | None = None) -> None:
        if self.c.open:
            self.c.sent.append(Sent(event, data))
            await self.c._outbound.put((event, data, on_ack))

    async def close(self, *, drop: bool = False) -> None:
        await self.c.hang_up(flush=True)


class _ConsumerEnd:
    def __init__(self, connection: MemoryConnection) -> None:
        self.c = connection

    @property
    def connected(self) -> bool:
        return self.c.open

    async def call(self, event: str, data: dict[str, Any], timeout: float) -> Any:
        if not self.c.open:
            raise ChannelDown(f"{event}: not connected")
        return await getattr(self.c.provider, f"on_{event}")(self.c.conn_id, data)

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        if not self.c.open:
            raise ChannelDown(f"{event}: not connected")
        if event == "stored" and self.c.hold_stored:
            self.c.held.append(data)
            return
        await getattr(self.c.provider, f"on_{event}")(self.c.conn_id, data)

    async def close(self) -> None:
        await self.c.hang_up(flush=False)


class MemoryPeer:
    """The consumer's ``ProviderPeer`` of the one provider on the network."""

    def __init__(self, network: MemoryNetwork) -> None:
        self.network = network

    async def challenge(self, grant: str) -> str:
        self.network.challenges += 1
        if self.network.down:
            raise ChannelDown("the provider is unreachable")
        try:
            return await self.network.provider.challenge(grant, "memory")
        except GrantRefused as exc:
            raise ChannelRefused(exc.code, exc.reason) from None

    async def open(self, auth: dict[str, Any], receiver: Receiver) -> Channel:
        if self.network.down:
            raise ChannelDown("the provider is unreachable")
        connection = MemoryConnection(self.network, uuid.uuid4().hex, receiver)
        link: ConsumerLink = connection.link
        try:
            await self.network.provider.connect(connection.conn_id, link, auth, "memory")
        except GrantRefused as exc:
            connection.open = False
            connection._pump.cancel()
            raise ChannelRefused(exc.code, exc.reason) from None
        self.network.connections.append(connection)
        return connection.channel

    @asynccontextmanager
    async def download(self, token: str, proof: str) -> AsyncIterator[AsyncIterator[bytes]]:
        content = await self.network.provider.download(token, proof)
        yield content.chunks


class MemoryNetwork:
    """One provider plane reachable at ``ENDPOINT``, and every connection made to it."""

    def __init__(self, provider: ProviderPlane) -> None:
        self.provider = provider
        self.connections: list[MemoryConnection] = []
        self.down = False
        self.challenges = 0  # how often a consumer asked for a nonce: every connection attempt does

    def dial(self, endpoint: str) -> MemoryPeer:
        assert endpoint == ENDPOINT, endpoint
        return MemoryPeer(self)

    @property
    def current(self) -> MemoryConnection:
        open_ones = [c for c in self.connections if c.open]
        assert open_ones, "no channel is open"
        return open_ones[-1]


class PortalInMemory:
    """The portal's answers the provider's admission asks for: tokens and grant checks (``verify``)."""

    def __init__(self) -> None:
        self.reachable = True
        self.verdicts: dict[str, dict[str, Any]] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("the portal is down", request=request)
        if request.url.path == "/oauth/token":
            claims = base64.urlsafe_b64encode(json.dumps({"org": PEC_ORG}).encode()).decode().rstrip("=")
            return httpx.Response(200, json={"access_token": f"h.{claims}.s", "expires_in": 3600})
        if request.url.path.endswith("/verify"):
            subscription_id = request.url.path.split("/")[-2]
            return httpx.Response(200, json=self.verdicts.get(subscription_id, {"valid": True}))
        return httpx.Response(404, json={"detail": "not here"})


def settings(**changes: Any) -> ConnectorSettings:
    """Connector settings for tests: quick rounds, windows and re-sends measured on the manual clock."""
    base: dict[str, Any] = {"poll_seconds": 1.0, "resend_after_seconds": 10.0, "reconnect_min_seconds": 0.5,
                            "reconnect_max_seconds": 4.0, "window": 128}
    return ConnectorSettings(**{**base, **changes})


@dataclass
class Pair:
    """PEC provides, OMIS consumes, over a ``MemoryNetwork``."""

    pec: AadsysContext
    omis: AadsysContext
    pec_keys: Identity
    omis_keys: Identity
    portal_key: ECKey
    clock: ManualClock
    portal: PortalInMemory
    provider: ProviderPlane
    consumer: ConsumerPlane
    network: MemoryNetwork
    ledger: Ledger
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    # -- grants and subscriptions -------------------------------------------------------------------------------
    def grant(self, subscription_id: str, *, mode: Mode = Mode.REALTIME, valid_from: datetime | None = None,
              valid_to: datetime | None = None, lifetime: timedelta = timedelta(hours=1), key: ECKey | None = None,
              kid: str | None = None, consumer_keys: Identity | None = None, **claims: Any) -> str:
        now = self.clock.now()
        keys = consumer_keys or self.omis_keys
        claim_set: dict[str, Any] = {
            "sub": subscription_id, "subscriptionId": subscription_id, "providerOrgId": PEC_ORG,
            "consumerOrgId": OMIS_ORG, "assetId": "asset-1", "assetType": "sales-order", "mode": mode.value,
            "validFrom": (valid_from or now - timedelta(days=1)).isoformat(),
            "validTo": (valid_to or now + timedelta(days=30)).isoformat(),
            "consumerKeys": {"signing": keys.signing_key, "encryption": keys.encryption_key},
            "iss": ISSUER, "aud": PEC_ORG, "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()), "jti": uuid.uuid4().hex, **claims}
        signer = key or self.portal_key
        return jwt.encode({"alg": "ES256", "kid": kid or signer.thumbprint(), "typ": "grant+jwt"}, claim_set, signer)

    def view(self, subscription_id: str, *, mode: Mode = Mode.REALTIME, valid_from: datetime | None = None,
             valid_to: datetime | None = None, grant: str | None = None) -> SubscriptionView:
        """The consumer's view of a subscription, as its control plane would hand it to the data plane."""
        now = self.clock.now()
        start, end = valid_from or now - timedelta(days=1), valid_to or now + timedelta(days=30)
        token = grant or self.grant(subscription_id, mode=mode, valid_from=start, valid_to=end)
        return SubscriptionView(
            id=subscription_id, role=Role.CONSUMER, mode=mode, asset_type="sales-order",
            state=SubscriptionState.ACTIVE, valid_from=start, valid_to=end, peer_org_id=PEC_ORG,
            peer_endpoint=ENDPOINT, peer_signing_key=self.pec_keys.signing_key,
            peer_encryption_key=self.pec_keys.encryption_key, provider_owner="pec",
            provider_base_iri="https://pec.example", grant=token, grant_expires_at=now + timedelta(hours=1))

    async def consume(self, view: SubscriptionView) -> None:
        """The consumer's control plane hands the subscription over; its reception starts once the lease is taken."""
        await self.consumer.reconcile([view])
        await until(lambda: view.id in self.consumer.receptions, what="the consumer to take the lease and start")

    def record_at_provider(self, subscription_id: str, state: str) -> None:
        """What the provider's ledger holds once its control plane saw the subscription in ``state`` at the
        portal (``revoked``: it learnt of a revocation)."""
        self.ledger.upsert({"id": subscription_id, "consumerOrgId": OMIS_ORG, "providerOrgId": PEC_ORG,
                            "consumerName": "OMIS", "providerName": "PEC", "assetId": "asset-1",
                            "assetType": "sales-order", "mode": "realtime",
                            "validFrom": "2026-01-01T00:00:00Z", "validTo": "2099-01-01T00:00:00Z",
                            "state": state, "reason": "contract ended" if state == "revoked" else None},
                           Role.PROVIDER, PEC_ORG)

    # -- records --------------------------------------------------------------------------------------------------
    async def post(self, *order_ids: str, size: int | None = None) -> None:
        """Sales Orders created at PEC, as its business API would."""
        from aadsys.samples import sales_order

        def create() -> None:
            for order_id in order_ids:
                body = sales_order(order_id) if size is None else sales_order(order_id, target_bytes=size)
                self.pec.instances.create("sales-order", body)

        await anyio.to_thread.run_sync(create)

    def stored_keys(self, subscription_id: str | None = None) -> list[str]:
        """Keys OMIS stored from PEC, in the order it stored them (inbox seq order)."""
        from sqlalchemy import select

        from aadsys.core.tables import InboxRow

        with self.omis.db.session() as session:
            query = select(InboxRow.instance_key).order_by(InboxRow.seq)  # type: ignore[arg-type]
            if subscription_id is not None:
                query = query.where(InboxRow.subscription_id == subscription_id)
            return list(session.execute(query).scalars())

    def figure(self, at: str, name: str, /, **labels: str) -> float | None:
        """One sample of the ``/metrics`` exposition of PEC's (``at="pec"``) or OMIS's (``"omis"``) AAdSys."""
        context = self.pec if at == "pec" else self.omis
        return sample(context.metrics.exposition().decode(), name, **labels)

    def refused(self, side: str) -> dict[str, int]:
        return (self.provider.refusals if side == "pec" else self.consumer.refusals).counts()

    def instances_sent(self, conn: MemoryConnection | None = None) -> list[int]:
        """Seqs of every ``instance`` the provider sent on ``conn`` (default: on every connection), in order."""
        conns = [conn] if conn is not None else self.network.connections
        return [s.data["seq"] for c in conns for s in c.sent if s.event == "instance"]


async def until(predicate: Callable[[], Any], *, what: str, timeout: float = 10.0) -> Any:
    """Yield to the loop and worker threads until ``predicate()`` holds (a state wait, never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.002)


async def settle(rounds: int = 20) -> None:
    """Give queued callbacks and worker threads a chance to run (for checking that something does NOT happen)."""
    for _ in range(rounds):
        await asyncio.sleep(0.002)


@asynccontextmanager
async def channel_pair(pec: AadsysContext, omis: AadsysContext, tmp: Path, **tuning: Any) -> AsyncIterator[Pair]:
    """Both planes running on their databases, joined in memory; every task ended when the block ends."""
    clock = ManualClock()
    conf = settings(**tuning)
    pec_keys, omis_keys = load_or_create(tmp / "pec-keys"), load_or_create(tmp / "omis-keys")
    portal_key = ECKey.generate_key("P-256")
    trust = TrustStore(tmp / "pec-trust.json")
    trust.update(issuer=ISSUER, org_id=PEC_ORG, jwks=KeySet([portal_key]).as_dict(private=False))
    portal = PortalInMemory()
    client = PortalClient(ISSUER, "pec-client", "secret", transport=httpx.MockTransport(portal.handle))
    ledger = Ledger(pec.db)

    async def no_rotation() -> None:
        raise PortalUnavailable("the JWKS", "the portal in memory has no keys to rotate")

    admission = Admission(trust=trust, ledger=ledger, portal=client, held_types=pec.instances.registered_slugs,
                          refresh_trust=no_rotation, clock=clock, leeway_seconds=conf.clock_skew_seconds)
    pec_jobs, omis_jobs = HistoryJobs(pec.db), HistoryJobs(omis.db)
    pec_metrics, omis_metrics = ConnectorMetrics(pec.metrics), ConnectorMetrics(omis.metrics)  # as attach makes them
    for context in (pec, omis):
        context.metrics.add_collector(SubscriptionFigures(EngineRows(context.db.engine), clock.now))
    outbox = Outbox(pec.db, conf.delivery_ttl_seconds, clock)
    links = Links(pec.db, conf.link_ttl_seconds, clock, pec_metrics)
    pec_keeper = LeaseKeeper(Leases(pec.db, "pec-worker", conf.lease_ttl_seconds, clock, pec_metrics), clock)
    omis_keeper = LeaseKeeper(Leases(omis.db, "omis-worker", conf.lease_ttl_seconds, clock, omis_metrics), clock)
    provider = ProviderPlane(conf, pec_keys, admission, pec.instances, pec.files, outbox, links, pec_jobs,
                             Refusals(pec.db, pec_metrics, clock.monotonic), clock, pec_keeper, pec_metrics)
    network = MemoryNetwork(provider)
    consumer = ConsumerPlane(conf, omis_keys, omis.inbox, omis.files, omis_jobs,
                             Refusals(omis.db, omis_metrics, clock.monotonic), omis.db, network.dial, clock,
                             omis_keeper, omis_metrics, max_body_bytes=8 * 1024 * 1024,
                             max_file_bytes=32 * 1024 * 1024)
    loop = asyncio.get_running_loop()
    pec.instances.events.bind(loop)
    omis.instances.events.bind(loop)
    pair = Pair(pec, omis, pec_keys, omis_keys, portal_key, clock, portal, provider, consumer, network, ledger)
    pair.tasks = [asyncio.ensure_future(task) for task in (provider.run(), consumer.run(), pec_keeper.run(),
                                                           omis_keeper.run())]
    try:
        yield pair
    finally:
        await consumer.stop_all()
        await provider.stop_all("shutting-down", "the test ends")  # type: ignore[arg-type]
        for task in pair.tasks:
            task.cancel()
        await asyncio.gather(*pair.tasks, return_exceptions=True)
        await client.aclose()


# -- helpers of the channel tests ----------------------------------------------------------------------------------
SUB = "sub-1"


async def connected(pair: Pair, count: int = 1, subscription_id: str = SUB) -> MemoryConnection:
    """The ``count``-th connection, once the consumer has opened it and asked for its records."""
    await until(lambda: len(pair.network.connections) >= count and pair.provider.flows.get(subscription_id) is not None
                and pair.provider.flows[subscription_id]._sender is not None, what=f"connection {count} to open")
    return pair.network.connections[count - 1]


def outbox(pair: Pair, subscription_id: str = SUB) -> Any:
    return provider_figures(pair.pec.db, subscription_id)


async def handshake(pair: Pair, grant: str, *, keys: Any = None, nonce: str | None = None,
                    auth: dict[str, Any] | None = None, listener: Receiver | None = None) -> Any:
    """A consumer's connect, step by step, as ``Reception`` makes it."""
    peer = pair.network.dial(ENDPOINT)
    fresh = nonce or await peer.challenge(grant)
    signer = keys or pair.omis_keys
    proof = prove(signer, PROOF_CHANNEL, fresh, hashlib.sha256(grant.encode()).hexdigest())
    return await peer.open(auth or ChannelAuth(grant=grant, nonce=fresh, proof=proof).wire(), listener or Listener())


class Listener:
    """A consumer's end that takes everything and keeps what it was told: the ``closing`` it heard."""

    def __init__(self) -> None:
        self.closing: dict[str, Any] | None = None
        self.instances = 0

    def on_instance(self, data: Any) -> dict[str, Any]:
        self.instances += 1
        return {"ok": True}

    async def on_history_complete(self, data: Any) -> dict[str, Any]:
        return {"ok": True}

    def on_closing(self, data: Any) -> None:
        self.closing = data

    def on_disconnect(self) -> None:
        pass
