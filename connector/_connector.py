"""One AAdSys's ABM Connector: the control plane, the two data planes and their HTTP surface, wired together.

HTTP (mounted in the AAdSys app by the extension):

- ``/connector/socket.io`` — the channel (Socket.IO, websocket only, namespace ``/channel``);
- ``POST /connector/v1/challenges`` — a fresh nonce for a consumer presenting its grant (``Authorization:
  Bearer <grant>``); the handshake then signs it (DESIGN §5.1);
- ``GET /connector/v1/links/{token}`` — one-time links (``X-Link-Proof``: the consumer's signature over the
  token); 404 unknown, 403 not the consumer's, 410 used or expired;
- ``GET /connector/v1/status`` — what ``aadsys connector status`` shows, plus live channel state (API key,
  scope read).

Figures (``connector._metrics``): one ``ConnectorMetrics`` in the AAdSys's registry, handed to every part that counts
an event, and ``SubscriptionFigures``, read from the database at each scrape.

Tasks: ``start`` runs one ``asyncio.TaskGroup`` for the whole connector; its children are the control plane's
loop and its follower of the portal's revocation stream, housekeeping, and the two data planes, which own a child
per flow and per reception. ``stop`` closes the channels, then cancels the group and waits until every task has
ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, FastAPI, Header, Request
from starlette.responses import Response, StreamingResponse

from aadsys.gateway.context import AadsysContext
from aadsys.gateway.deps import Reader
from aadsys.gateway.problems import PROBLEM_BASE, PROBLEM_JSON, problem_responses
from aadsys.tls import client_context
from aas_models import Owner
from connector._clock import Clock, SystemClock
from connector._home import connector_dir, read_secret
from connector._identity import load_or_create
from connector._leases import CONTROL, LeaseKeeper, Leases
from connector._metrics import ConnectorMetrics
from connector._refusals import Refusals
from connector._revoking import ENDED
from connector._rows import EngineRows
from connector._settings import ConnectorSettings, load_connector_settings
from connector._status import collect_status
from connector._subscription_figures import SubscriptionFigures
from connector._tasks import cancel_and_wait, guarded, restarting
from connector._wire import CHALLENGE_ROUTE, LINK_ROUTE, SOCKETIO_PATH
from connector.codes import Code
from connector.control._admission import NONCE_SECONDS
from connector.control._ledger import Ledger
from connector.control._plane import ControlPlane
from connector.control._portal import PortalClient
from connector.control._trust import TrustStore
from connector.data._consumer import ConsumerPlane, message_limit
from connector.data._history import HistoryJobs
from connector.data._links import Links
from connector.data._outbox import Outbox
from connector.data._progress import DeliveryProgress
from connector.data._provider import ProviderPlane
from connector.data._socketio import SocketIODialer, channel_app
from connector.errors import ConfigurationError, GrantRefused, LinkRefused

log = logging.getLogger("connector")
HOUSEKEEPING_SECONDS = 1.0


def expiry_sweep_seconds(delivery_ttl_seconds: float) -> float:
    """How often the worker in charge marks the deliveries past their TTL: every hundredth of the TTL, from once a
    second to once a minute (the default week is kept to the minute, and costs an idle worker one query a
    minute)."""
    return min(60.0, max(HOUSEKEEPING_SECONDS, delivery_ttl_seconds / 100))


NONCE: dict[str, Any] = {"type": "object", "required": ["nonce", "expiresIn"], "properties": {
    "nonce": {"type": "string"}, "expiresIn": {"type": "integer", "description": "seconds"}}}


class Connector:
    def __init__(self, context: AadsysContext, settings: ConnectorSettings | None = None, *,
                 clock: Clock | None = None) -> None:
        aadsys = context.settings
        if not (aadsys.portal_url and aadsys.client_id):
            raise ConfigurationError("the connector needs portal_url, client_id and client_secret_file")
        self.context = context
        self.settings = settings or load_connector_settings(aadsys.data_dir)
        self.clock = clock or SystemClock()
        db = context.db
        self.identity = load_or_create(connector_dir(aadsys.data_dir))
        tls = client_context(aadsys.tls_ca_file)  # one trust for the portal and every partner (DESIGN §10)
        self.portal = PortalClient(aadsys.portal_url, aadsys.client_id, read_secret(aadsys.client_secret_file),
                                   timeout=self.settings.portal_timeout_seconds, tls=tls)
        self.trust = TrustStore(connector_dir(aadsys.data_dir) / "trust.json")
        self.metrics = metrics = ConnectorMetrics(context.metrics)
        context.metrics.add_collector(SubscriptionFigures(EngineRows(db.engine), self.clock.now))
        self.ledger, self.jobs = Ledger(db, context.notifications), HistoryJobs(db)
        self.refusals = Refusals(db, metrics, self.clock.monotonic)
        self.leases = Leases(db, context.worker, self.settings.lease_ttl_seconds, self.clock, metrics)
        self.keeper = LeaseKeeper(self.leases, self.clock, context.notifications)
        self.outbox = Outbox(db, self.settings.delivery_ttl_seconds, self.clock)
        self.links = Links(db, self.settings.link_ttl_seconds, self.clock, metrics)
        self.control = ControlPlane(settings=self.settings, identity=self.identity, portal=self.portal,
                                    trust=self.trust, ledger=self.ledger, progress=DeliveryProgress(db, self.jobs),
                                    owner=Owner(aadsys.org, aadsys.base_iri), public_url=aadsys.advertised_url,
                                    asset_types=context.instances.registered_slugs, clock=self.clock,
                                    metrics=metrics, in_charge=lambda: self.keeper.fence(CONTROL, CONTROL) is not None)
        self.provider = ProviderPlane(self.settings, self.identity, self.control.admission, context.instances,
                                      context.files, self.outbox, self.links, self.jobs, self.refusals, self.clock,
                                      self.keeper, metrics)
        self.dialer = SocketIODialer(tls=tls, max_message_bytes=message_limit(aadsys.max_body_bytes))
        self.consumer = ConsumerPlane(self.settings, self.identity, context.inbox, context.files, self.jobs,
                                      self.refusals, db, self.dialer, self.clock, self.keeper, metrics,
                                      max_body_bytes=aadsys.max_body_bytes, max_file_bytes=aadsys.max_file_bytes)
        self.control.drive(self.provider, self.consumer)
        self.keeper.serve(CONTROL, taken=_nothing, lost=_nothing)
        self.keeper.want(CONTROL, {CONTROL})
        self.housekept_at: float | None = None
        self.ended = asyncio.Event()  # a subscription ended in another worker or process (NOTIFY on PostgreSQL)
        context.notifications.listen(ENDED, lambda _: self.ended.set())
        readiness = context.metrics.readiness
        readiness.add_check("connector leases", self.keeper.keeping)
        readiness.add_check("connector rounds", self.control.making_rounds)
        readiness.add_check("connector housekeeping", lambda: self.housekept_at is not None
                            and self.clock.monotonic() - self.housekept_at < 30)
        self._main: asyncio.Task[None] | None = None

    def mount(self, app: FastAPI) -> None:
        app.mount("/" + SOCKETIO_PATH, channel_app(self.provider))
        app.include_router(self.router())

    # -- life ---------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if not self.context.db.is_postgres:  # one process per SQLite file: leases held before this start are stale
            await anyio.to_thread.run_sync(self.leases.release_everyone)
        self._main = asyncio.create_task(self._run(), name="connector")
        log.info("connector of '%s' started: portal %s, reachable here at %s", self.context.settings.org,
                 self.portal.base_url, self.context.settings.advertised_url)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(guarded(self.provider.run(), "provider plane"))
            group.create_task(guarded(self.consumer.run(), "consumer plane"))
            group.create_task(restarting(self.keeper.run, "leases", self.clock))
            group.create_task(restarting(self.control.run, "control plane", self.clock))
            group.create_task(restarting(self.control.follow_revocations, "revocation stream", self.clock))
            group.create_task(restarting(self._housekeeping, "housekeeping", self.clock))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.provider.stop_all(Code.SHUTTING_DOWN, "the provider is shutting down")
            await self.consumer.stop_all()
        await cancel_and_wait(self._main)
        with contextlib.suppress(Exception):
            await anyio.to_thread.run_sync(partial(self.refusals.flush, everything=True))
        with contextlib.suppress(Exception):  # whoever comes next need not wait for them to expire
            await self.keeper.release_all()
        await self.dialer.aclose()
        await self.portal.aclose()

    async def _housekeeping(self) -> None:
        """Close channels whose window or grant ended, or whose subscription another worker or process ended (on
        SQLite a look at the ledger every second while anything is live, since ``aadsys connector revoke`` writes
        from another process; on PostgreSQL when a notice says so); expire deliveries past their TTL."""
        swept: float | None = None
        sweep_every = expiry_sweep_seconds(self.settings.delivery_ttl_seconds)
        while True:
            told = await self.clock.wait(self.ended, HOUSEKEEPING_SECONDS)
            self.ended.clear()
            try:
                await anyio.to_thread.run_sync(self.refusals.flush)
                if told or not self.context.db.is_postgres:
                    await self.control.end_ended()
                await self.provider.close_due()
                now = self.clock.monotonic()
                in_charge = self.keeper.fence(CONTROL, CONTROL) is not None
                if in_charge and (swept is None or now - swept >= sweep_every):
                    swept = now
                    await self.provider.expire_due()
                self.housekept_at = self.clock.monotonic()
            except Exception:
                log.exception("connector housekeeping failed")

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def router(self) -> APIRouter:
        router = APIRouter(tags=["connector"])

        @router.post(CHALLENGE_ROUTE, status_code=201, summary="A fresh nonce for the channel handshake",
                     responses={201: {"content": {"application/json": {"schema": NONCE}}},
                                **problem_responses(401, 429, s401="No grant, or the grant is refused (its `code` "
                                                                     "says why)",
                                                    s429="Too many handshakes from this address: wait, then "
                                                         "try again")})
        async def challenge(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
            """Present the grant as `Authorization: Bearer <grant>`; sign the nonce into the connect auth."""
            grant = (authorization or "").removeprefix("Bearer ").strip()
            if not grant or not (authorization or "").startswith("Bearer "):
                return _problem(401, Code.GRANT_REQUIRED, "Send the grant as 'Authorization: Bearer <grant>'.")
            try:
                nonce = await self.provider.challenge(grant, _client(request))
            except GrantRefused as exc:
                if exc.code is Code.SLOW_DOWN:
                    return _problem(429, exc.code, exc.reason, headers={"Retry-After": "1"})
                return _problem(401, exc.code, exc.reason)
            return Response(orjson.dumps({"nonce": nonce, "expiresIn": NONCE_SECONDS}), status_code=201,
                            media_type="application/json", headers={"Cache-Control": "no-store"})

        @router.get(LINK_ROUTE + "/{token}", summary="Download through a one-time link",
                    responses={200: {"description": "the sealed payload or file",
                                     "content": {"application/octet-stream": {}}},
                               **problem_responses(403, 404, 410, s403="Not the subscribed consumer's proof",
                                                   s404="No such link",
                                                   s410="The link was used or has expired, or its subscription "
                                                        "ended")})
        async def download(token: str, x_link_proof: Annotated[str | None, Header()] = None) -> Response:
            try:
                content = await self.provider.download(token, x_link_proof)
            except LinkRefused as exc:
                return _problem(exc.status, exc.code, exc.reason)
            headers = {"Cache-Control": "no-store"}
            if content.size is not None:
                headers["Content-Length"] = str(content.size)
            return StreamingResponse(content.chunks, media_type="application/octet-stream", headers=headers)

        @router.get("/connector/v1/status", summary="The connector's state (as `aadsys connector status`)",
                    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                               **problem_responses(401, 403)})
        async def status(_: Reader) -> Response:
            body = await anyio.to_thread.run_sync(self.status)
            return Response(orjson.dumps(body), media_type="application/json")

        return router

    def status(self) -> dict[str, Any]:
        channels = {**self.consumer.channels(), **self.provider.channels()}
        found = collect_status(self.context.settings, EngineRows(self.context.db.engine), self.trust.trust,
                               self.identity, portal_reachable=self.control.status.reachable, channels=channels,
                               unwritten=self.refusals.unwritten())
        # This process among the workers: its lease holder name, the writes its fence refused since it started
        # (each one a write of a paused worker whose lease another had taken over), and the leases it took over.
        found["worker"] = {"name": self.leases.holder, "fencedWrites": self.leases.refused,
                           "leaseTakeovers": self.leases.takeovers}
        return found


async def _nothing(*_: object) -> None:
    """The control lease starts and stops nothing by itself: the control plane asks whether it holds it."""


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _problem(status: int, code: Code, detail: str, headers: dict[str, str] | None = None) -> Response:
    """RFC 9457 problem details, with the refusal's stable ``code`` for the consumer's logs."""
    body = {"type": PROBLEM_BASE + code, "title": "Refused", "status": status, "detail": detail, "code": code}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)
