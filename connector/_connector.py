"""One AAdSys's ABM Connector: the control plane, the two data planes and their HTTP surface, wired together.

HTTP (mounted in the AAdSys app by the extension):

- ``/connector/socket.io`` — the channel (Socket.IO, websocket only, namespace ``/channel``);
- ``POST /connector/v1/challenges`` — a fresh nonce for a consumer presenting its grant (``Authorization:
  Bearer <grant>``); the handshake then signs it (DESIGN §5.1);
- ``GET /connector/v1/links/{token}`` — one-time links (``X-Link-Proof``: the consumer's signature over the
  token); 404 unknown, 403 not the consumer's, 410 used or expired;
- ``GET /connector/v1/status`` — what ``aadsys connector status`` shows, plus live channel state (API key,
  scope read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Header
from sqlmodel import select
from starlette.responses import Response, StreamingResponse

from aadsys.core.errors import FileNotFound
from aadsys.core.tables import InstanceRow
from aadsys.gateway.context import AadsysContext
from aadsys.gateway.deps import Reader
from aadsys.gateway.problems import PROBLEM_BASE, PROBLEM_JSON, problem_responses
from aas_models import Owner
from connector._identity import load_or_create
from connector._refusals import Refusals
from connector._sealing import CHUNK_BYTES, FileSeal, Sealer, file_binding
from connector._settings import ConnectorSettings, load_connector_settings
from connector._status import collect_status
from connector._tasks import spawn
from connector._wire import CHALLENGE_ROUTE, LINK_ROUTE
from connector.control._ledger import Ledger
from connector.control._plane import ControlPlane
from connector.control._portal import PortalClient
from connector.control._trust import TrustStore
from connector.data._consumer import ConsumerPlane
from connector.data._history import HistoryJobs
from connector.data._links import Links
from connector.data._outbox import Outbox
from connector.data._provider import ProviderPlane
from connector.errors import ConfigurationError, GrantRefused, LinkRefused
from connector.spi import DataFlows

log = logging.getLogger("connector")
EXPIRY_SWEEP_SECONDS = 10.0


def connector_dir(data_dir: Path) -> Path:
    return data_dir / "connector"


def read_secret(path: Path | None) -> str:
    if path is None or not path.exists():
        raise ConfigurationError(f"the client secret file {path} is missing; give it with `aadsys init "
                                 "--client-secret-file` (from `abm-portal org create`)")
    secret = path.read_text().strip()
    if not secret:
        raise ConfigurationError(f"the client secret file {path} is empty")
    return secret


NONCE: dict[str, Any] = {"type": "object", "required": ["nonce", "expiresIn"], "properties": {
    "nonce": {"type": "string"}, "expiresIn": {"type": "integer", "description": "seconds"}}}


class Connector:
    def __init__(self, context: AadsysContext, tuning: ConnectorSettings | None = None) -> None:
        settings = context.settings
        if not (settings.portal_url and settings.client_id):
            raise ConfigurationError("the connector needs portal_url, client_id and client_secret_file")
        self.context = context
        self.tuning = tuning or load_connector_settings(settings.data_dir)
        db = context.db
        self.identity = load_or_create(connector_dir(settings.data_dir))
        self.portal = PortalClient(settings.portal_url, settings.client_id, read_secret(settings.client_secret_file),
                                   timeout=self.tuning.portal_timeout_seconds)
        self.trust = TrustStore(connector_dir(settings.data_dir) / "trust.json")
        self.ledger, self.jobs, self.refusals = Ledger(db), HistoryJobs(db), Refusals(db)
        self.outbox = Outbox(db, self.tuning.delivery_ttl_seconds)
        self.links = Links(db, self.tuning.link_ttl_seconds)
        flows: list[DataFlows] = []
        self.control = ControlPlane(tuning=self.tuning, db=db, identity=self.identity, portal=self.portal,
                                    trust=self.trust, ledger=self.ledger, jobs=self.jobs, outbox=self.outbox,
                                    owner=Owner(settings.org, settings.base_iri), public_url=settings.advertised_url,
                                    asset_types=context.instances.registered_slugs, flows=flows)
        self.provider = ProviderPlane(self.tuning, self.identity, self.control, context.instances, context.files,
                                      self.outbox, self.links, self.jobs, self.refusals)
        self.consumer = ConsumerPlane(self.tuning, self.identity, context.inbox, context.files, self.jobs,
                                      self.refusals, db=db, max_body_bytes=settings.max_body_bytes,
                                      max_file_bytes=settings.max_file_bytes)
        flows += [self.provider, self.consumer]
        self._tasks: list[asyncio.Task[None]] = []
        self._sealers: dict[str, Sealer] = {}

    # -- life ---------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [spawn(self.control.run(), "control plane"), spawn(self._housekeeping(), "housekeeping")]
        log.info("connector of '%s' started: portal %s, reachable here at %s", self.context.settings.org,
                 self.portal.base_url, self.context.settings.advertised_url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.provider.stop()
        await self.consumer.stop()
        await self.portal.aclose()

    async def _housekeeping(self) -> None:
        """Close channels whose window or grant ended; expire deliveries past their TTL."""
        swept = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.provider.close_due()
                if loop.time() - swept > EXPIRY_SWEEP_SECONDS:
                    swept = loop.time()
                    expired = await anyio.to_thread.run_sync(self.outbox.expire_due)
                    for subscription_id, count in expired.items():
                        log.warning("subscription %s: %d deliveries expired unstored", subscription_id, count)
            except Exception:
                log.exception("connector housekeeping failed")

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def router(self) -> APIRouter:
        router = APIRouter(tags=["connector"])

        @router.post(CHALLENGE_ROUTE, status_code=201, summary="A fresh nonce for the channel handshake",
                     responses={201: {"content": {"application/json": {"schema": NONCE}}},
                                **problem_responses(401, s401="No grant, or the grant is refused (its `code` says "
                                                                "why)")})
        async def challenge(authorization: Annotated[str | None, Header()] = None) -> Response:
            """Present the grant as `Authorization: Bearer <grant>`; sign the nonce into the connect auth."""
            grant = (authorization or "").removeprefix("Bearer ").strip()
            if not grant or not (authorization or "").startswith("Bearer "):
                return _problem(401, "grant-required", "Send the grant as 'Authorization: Bearer <grant>'.")
            try:
                claims = await self.provider.admit(grant)
            except GrantRefused as exc:
                await self.provider.refuse(exc.code, exc.reason, subscription_id=exc.subscription_id)
                return _problem(401, exc.code, exc.reason)
            nonce = self.provider.challenges.issue(claims.subscription_id)
            return Response(orjson.dumps({"nonce": nonce, "expiresIn": 60}), status_code=201,
                            media_type="application/json", headers={"Cache-Control": "no-store"})

        @router.get(LINK_ROUTE + "/{token}", summary="Download through a one-time link",
                    responses={200: {"description": "the sealed payload or file",
                                     "content": {"application/octet-stream": {}}},
                               **problem_responses(403, 404, 410, s403="Not the subscribed consumer's proof",
                                                   s404="No such link", s410="The link was used or has expired")})
        async def download(token: str, x_link_proof: Annotated[str | None, Header()] = None) -> Response:
            try:
                link = await anyio.to_thread.run_sync(self.links.consume, token, x_link_proof)
            except LinkRefused as exc:
                if exc.status in (403, 410):
                    await self.provider.refuse(f"link-{exc.status}", exc.reason)
                return _problem(exc.status, "link-refused", exc.reason)
            sealer = self._sealer(link.consumer_encryption_key)
            if link.kind == "payload":
                plaintext = await anyio.to_thread.run_sync(self._instance_bytes, link.instance_id)
                assert link.header is not None
                body = await anyio.to_thread.run_sync(sealer.reseal, link.header, plaintext)
                return Response(body, media_type="application/octet-stream", headers={"Cache-Control": "no-store"})
            assert link.file_sha256 is not None
            try:
                stored = await anyio.to_thread.run_sync(self.context.files.get, link.file_sha256)
            except FileNotFound:
                return _problem(404, "file-not-found", "the linked file is no longer stored here")
            chunks = sealer.encrypt_file(_read_chunks(stored.path), FileSeal(link.salt, link.nonce),
                                         file_binding(link.subscription_id, link.file_sha256))
            return StreamingResponse(chunks, media_type="application/octet-stream",
                                     headers={"Cache-Control": "no-store"})

        @router.get("/connector/v1/status", summary="The connector's state (as `aadsys connector status`)",
                    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                               **problem_responses(401, 403)})
        async def status(_: Reader) -> Response:
            body = await anyio.to_thread.run_sync(self.status)
            return Response(orjson.dumps(body), media_type="application/json")

        return router

    def status(self) -> dict[str, Any]:
        channels: dict[str, dict[str, Any]] = {sid: {"connected": r.status.connected, "lastError": r.status.last_error,
                          "closed": r.status.closed} for sid, r in self.consumer.receptions.items()}
        for subscription_id, delivery in self.provider.deliveries.items():
            channels[subscription_id] = {"connected": delivery.sid is not None, "inFlight": len(delivery.inflight)}
        return collect_status(self.context.settings, self.ledger, self.outbox, self.jobs, self.refusals, self.trust,
                              self.identity, portal_reachable=self.control.status.reachable, channels=channels)

    def _sealer(self, recipient: str) -> Sealer:
        if recipient not in self._sealers:
            self._sealers[recipient] = Sealer(self.identity, recipient)
        return self._sealers[recipient]

    def _instance_bytes(self, instance_id: int | None) -> bytes:
        with self.context.db.session() as session:
            blob = session.exec(select(InstanceRow.aas_json).where(InstanceRow.id == instance_id)).first()
        if blob is None:
            raise FileNotFound(str(instance_id))
        return bytes(blob)


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _problem(status: int, code: str, detail: str) -> Response:
    """RFC 9457 problem details, with the refusal's stable ``code`` for the consumer's logs."""
    body = {"type": PROBLEM_BASE + code, "title": "Refused", "status": status, "detail": detail, "code": code}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON)
