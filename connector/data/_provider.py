"""The provider's side of the channel (DESIGN §5): admission, then delivery with two-tier confirmation.

``ProviderChannel`` is the Socket.IO namespace ``/channel``; its handlers are thin and hand each event to
the ``Delivery`` of the subscription concerned. One ``Delivery`` runs per subscription: it makes outbox
rows as records commit (real-time) or for a range (historical), sends them in seq order within a window of
unconfirmed messages, sends again what the consumer received but did not confirm stored in time, and closes
the channel when the window ends, the grant runs out unrefreshed, or the subscription is revoked. Deliveries
are independent: a slow or dead consumer fills only its own window.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import socketio
from pydantic import ValidationError

from aadsys.core.files import FileStore
from aadsys.core.instances import InstanceService, iso
from aas_models import referenced_files
from connector._identity import Identity
from connector._refusals import Refusals
from connector._sealing import Sealer, verify_proof
from connector._settings import ConnectorSettings
from connector._tasks import spawn
from connector._wire import (
    NAMESPACE,
    OK,
    PROOF_CHANNEL,
    ChannelAuth,
    Closing,
    FileRef,
    GrantRefresh,
    HistoryComplete,
    HistoryRequest,
    InstanceMessage,
    LinkRef,
    ResendRequest,
    StoredNotice,
    SubscribeRequest,
    refused,
)
from connector.data._history import HistoryJobs
from connector.data._links import Links, NewLink
from connector.data._outbox import Outbox, Outgoing
from connector.data._states import HistoryState
from connector.errors import GrantRefused
from connector.spi import Admissions, GrantClaims, Mode, Role, SubscriptionView

log = logging.getLogger("connector.provider")
INTERNAL = "internal"  # refusal code of a handler that failed: the consumer retries after its backoff
NONCE_SECONDS = 60
MAX_NONCES = 10_000


class Challenges:
    """Fresh server nonces for the handshake (DESIGN §5.1): single use, short-lived, bound to a subscription."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, float]] = {}

    def issue(self, subscription_id: str) -> str:
        now = time.monotonic()
        if len(self._open) >= MAX_NONCES:
            self._open = {n: v for n, v in self._open.items() if v[1] > now}
            while len(self._open) >= MAX_NONCES:
                self._open.pop(next(iter(self._open)))
        nonce = secrets.token_urlsafe(32)
        self._open[nonce] = (subscription_id, now + NONCE_SECONDS)
        return nonce

    def take(self, nonce: str, subscription_id: str) -> bool:
        found = self._open.pop(nonce, None)
        return found is not None and found[0] == subscription_id and found[1] > time.monotonic()


@dataclass
class _InFlight:
    size: int
    received_at: float | None = None  # tier 1 came: the consumer holds this copy
    passed: bool = False  # a later seq was confirmed stored: the consumer refused or lost this copy


@dataclass
class Delivery:
    """Everything about one subscription's deliveries in this process."""

    plane: ProviderPlane
    claims: GrantClaims
    sealer: Sealer
    sid: str | None = None
    history: tuple[datetime, datetime] | None = None
    position: int = 0
    inflight: dict[int, _InFlight] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    completing: bool = False
    expires_at: datetime | None = None
    progress_at: float = 0.0  # when tier 2 last came

    @property
    def id(self) -> str:
        return self.claims.subscription_id

    # -- attachment --------------------------------------------------------------------------------------------
    async def attach(self, sid: str, claims: GrantClaims) -> None:
        """A consumer connected for this subscription; an earlier connection of it is dropped."""
        previous, self.sid = self.sid, sid
        self.claims, self.expires_at = claims, claims.expires_at
        self._stop_sending()
        if previous and previous != sid:
            await self.plane.sio.disconnect(previous, namespace=NAMESPACE)

    async def detach(self, sid: str) -> None:
        if self.sid == sid:
            self.sid = None
            self._stop_sending()

    async def start(self, after_seq: int, history: tuple[datetime, datetime] | None) -> int:
        """Replay what the consumer lacks, then go on; returns how many deliveries are waiting now."""
        plane = self.plane
        self._stop_sending()  # a repeated request starts over from what the consumer says it has
        self.history = history
        if history is not None:
            await anyio.to_thread.run_sync(plane.jobs.open, self.id, Role.PROVIDER, *history)
            await self._make_history()
        else:
            await anyio.to_thread.run_sync(plane.outbox.make_realtime, self.id, self.claims.asset_type,
                                           self.claims.valid_from, self.claims.valid_to)
            plane.keep_making(self.id, self.claims.asset_type, self.claims.valid_from, self.claims.valid_to)
        pending = await anyio.to_thread.run_sync(plane.outbox.reopen, self.id, after_seq)
        self.position, self.inflight, self.completing = 0, {}, False
        self._spawn(self._send_loop())
        return pending

    def _spawn(self, coroutine: Any) -> None:
        self.tasks.append(spawn(coroutine, f"delivery {self.id}"))

    def _stop_sending(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks = []
        self.inflight = {}

    # -- making deliveries -------------------------------------------------------------------------------------
    async def _make_history(self) -> None:
        assert self.history is not None
        while await anyio.to_thread.run_sync(self.plane.outbox.make_history, self.id, self.claims.asset_type,
                                             *self.history):
            pass
        figures = await anyio.to_thread.run_sync(self.plane.outbox.figures, self.id)
        await anyio.to_thread.run_sync(self.plane.jobs.set_total, self.id, figures.made)

    # -- sending -----------------------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        settings = self.plane.settings
        while self.sid is not None:
            self.wake.clear()
            await self._resend_overdue()
            room = settings.window - len(self.inflight)
            if room > 0 and sum(f.size for f in self.inflight.values()) < settings.window_bytes:
                sealed = await anyio.to_thread.run_sync(self._claim_sealed, min(room, 64))
                if sealed:
                    await self._send(sealed)
                    continue
                if self.history is not None and not self.inflight:
                    await self._complete_history()
            timeout = settings.resend_after_seconds
            due = [d for f in self.inflight.values() if (d := self._resend_due(f)) is not None]
            if due:
                timeout = max(0.01, min(due) - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def _resend_overdue(self) -> None:
        """Send again what the consumer received (tier 1) but has not confirmed stored (tier 2) in time.

        A copy without tier 1 is still on its way: sending it again on the same connection would only queue
        another copy behind it (a hung consumer would pile up copies here). If the connection is dead, the
        transport's heartbeat ends it, and the consumer's next ``subscribe`` replays everything unconfirmed.
        While the consumer keeps confirming, a received copy is only waiting its turn (it stores in seq
        order), unless a later seq was confirmed before it.
        """
        now = time.monotonic()
        overdue = sorted(seq for seq, f in self.inflight.items() if (due := self._resend_due(f)) and due <= now)
        if overdue:
            log.info("subscription %s: sending %d unconfirmed deliveries again", self.id, len(overdue))
            await self.resend(overdue)

    def _resend_due(self, flight: _InFlight) -> float | None:
        if flight.received_at is None:
            return None
        since = flight.received_at if flight.passed else max(flight.received_at, self.progress_at)
        return since + self.plane.settings.resend_after_seconds

    async def resend(self, seqs: Sequence[int]) -> None:
        again = await anyio.to_thread.run_sync(self._again_sealed, list(seqs))
        found = {o.seq for o, _ in again}
        for seq in seqs:
            if seq not in found:
                self.inflight.pop(seq, None)  # stored or expired meanwhile
        if again:
            await self._send(again)

    # claiming and sealing run in one worker thread: each hop to a thread costs more than sealing a record
    def _claim_sealed(self, limit: int) -> list[tuple[Outgoing, dict[str, Any]]]:
        return self._seal_all(self.plane.outbox.claim(self.id, self.position, limit))

    def _again_sealed(self, seqs: Sequence[int]) -> list[tuple[Outgoing, dict[str, Any]]]:
        return self._seal_all(self.plane.outbox.again(self.id, seqs))

    async def _send(self, sealed: Sequence[tuple[Outgoing, dict[str, Any]]]) -> None:
        sid = self.sid
        if sid is None:
            return
        for outgoing, message in sealed:
            flight = self.inflight[outgoing.seq] = _InFlight(len(outgoing.aas_json))
            self.position = max(self.position, outgoing.seq)
            await self.plane.sio.emit("instance", message, to=sid, namespace=NAMESPACE,
                                      callback=functools.partial(self._received, outgoing.seq, flight))

    def _received(self, seq: int, flight: _InFlight, *answer: Any) -> None:
        """Tier 1 for one copy; a copy of an earlier connection or an earlier send no longer counts."""
        if self.inflight.get(seq) is flight:
            flight.received_at = time.monotonic()

    def _seal_all(self, batch: Sequence[Outgoing]) -> list[tuple[Outgoing, dict[str, Any]]]:
        """Seal a batch (CPU and link rows: runs in a worker thread)."""
        return [(outgoing, self._seal(outgoing)) for outgoing in batch]

    def _seal(self, o: Outgoing) -> dict[str, Any]:
        plane, claims = self.plane, self.claims
        new_links: list[NewLink] = []
        file_fields = []
        for sha in referenced_files(o.aas_json):
            stored = plane.files.get(sha)
            seal = Sealer.new_file_seal()
            file_fields.append({"sha256": sha, "size": stored.size, "mediaType": stored.media_type,
                                "salt": seal.salt, "nonce": seal.nonce})
            new_links.append(NewLink("file", o.seq, seal.salt, seal.nonce, file_sha256=sha))
        fields = {"subscriptionId": self.id, "seq": o.seq, "assetType": o.asset_type, "instanceKey": o.key,
                  "revision": o.revision, "createdAt": iso(o.created_at), "sha256": o.sha256,
                  "size": len(o.aas_json), "files": file_fields}
        sealed = self.sealer.seal(fields, o.aas_json)
        inline = len(sealed.ciphertext) <= plane.settings.inline_limit_bytes
        if not inline:
            header = sealed.header
            new_links.append(NewLink("payload", o.seq, "", "", instance_id=o.instance_id, header=header))
        tokens = plane.links.issue(self.id, claims.consumer_signing_key, claims.consumer_encryption_key,
                                   new_links) if new_links else []
        file_refs = [FileRef(sha256=f["sha256"], token=t) for f, t in zip(file_fields, tokens, strict=False)]
        message = InstanceMessage(subscription_id=self.id, seq=o.seq, header=sealed.header,
                                  signature=sealed.signature, files=file_refs,
                                  ciphertext=sealed.ciphertext if inline else None,
                                  link=None if inline else LinkRef(token=tokens[-1], size=len(sealed.ciphertext)))
        return message.wire()

    # -- confirmation ------------------------------------------------------------------------------------------
    async def confirm(self, seqs: Sequence[int]) -> None:
        """Tier 2: these are stored at the consumer."""
        await anyio.to_thread.run_sync(self._confirm_stored, list(seqs))
        for seq in seqs:
            self.inflight.pop(seq, None)
        if seqs:
            self.progress_at, top = time.monotonic(), max(seqs)
            for seq, flight in self.inflight.items():
                flight.passed = flight.passed or seq < top
        self.wake.set()

    def _confirm_stored(self, seqs: Sequence[int]) -> None:
        """Deliveries stored and their links done, in one transaction (blocking: runs in a worker thread)."""
        plane = self.plane
        with plane.outbox.db.write_session() as session:  # outbox and links live in the one database
            plane.outbox.confirm(self.id, seqs, session)
            plane.links.delivered(self.id, seqs, session)
            session.commit()

    async def _complete_history(self) -> None:
        """All of the range is confirmed stored: tell the consumer the count and digest, keep ours to report."""
        if self.completing or self.sid is None:  # the range is all made: ``start`` made it before sending
            return
        figures = await anyio.to_thread.run_sync(self.plane.outbox.figures, self.id)
        if figures.pending or figures.sent - figures.stored - figures.expired:
            return
        self.completing = True
        count, digest = await anyio.to_thread.run_sync(self.plane.outbox.digest, self.id)
        await anyio.to_thread.run_sync(partial(self.plane.jobs.move, self.id, HistoryState.FINISHED, count=count,
                                               digest=digest))
        await self.plane.sio.emit("history_complete", HistoryComplete(
            subscription_id=self.id, count=count, digest=digest).wire(), to=self.sid, namespace=NAMESPACE)
        log.info("subscription %s: historical transfer complete, %d instances", self.id, count)

    async def close(self, code: str, reason: str) -> None:
        sid, self.sid = self.sid, None
        self._stop_sending()
        if sid is not None:
            with contextlib.suppress(Exception):
                await self.plane.sio.emit("closing", Closing(subscription_id=self.id, code=code, reason=reason)
                                          .wire(), to=sid, namespace=NAMESPACE)
                await self.plane.sio.disconnect(sid, namespace=NAMESPACE)


class ProviderPlane:
    """The provider's data plane: the namespace, the challenges, and one ``Delivery`` per subscription."""

    def __init__(self, settings: ConnectorSettings, identity: Identity, admissions: Admissions,
                 instances: InstanceService, files: FileStore, outbox: Outbox, links: Links, jobs: HistoryJobs,
                 refusals: Refusals) -> None:
        self.settings, self.identity, self.admissions = settings, identity, admissions
        self.instances, self.files, self.events = instances, files, instances.events
        self.outbox, self.links, self.jobs, self.refusals = outbox, links, jobs, refusals
        self.challenges = Challenges()
        self.deliveries: dict[str, Delivery] = {}
        self.makers: dict[str, asyncio.Task[None]] = {}
        self.ended: dict[str, tuple[str, str]] = {}  # subscription -> (code, reason) for ones terminated here
        self.sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], cors_allowed_origins=[],
                                        max_http_buffer_size=1024 * 1024, logger=False, engineio_logger=False)
        self.sio.register_namespace(ProviderChannel(self))

    async def refuse(self, code: str, reason: str, *, subscription_id: str | None = None,
                     peer: str | None = None) -> None:
        await anyio.to_thread.run_sync(partial(self.refusals.record, code, reason, subscription_id=subscription_id,
                                               peer=peer))

    async def admit(self, grant: str, *, subscription_id: str | None = None) -> GrantClaims:
        """The grant's claims if it admits a channel; ``GrantRefused`` otherwise (each check named)."""
        claims = await self.admissions.check(grant)
        if subscription_id is not None and claims.subscription_id != subscription_id:
            raise GrantRefused("wrong-subscription", "the grant is for another subscription", claims.subscription_id)
        if claims.subscription_id in self.ended:
            code, reason = self.ended[claims.subscription_id]
            raise GrantRefused(code, reason, claims.subscription_id)
        if claims.asset_type not in self.instances.registered_slugs():
            raise GrantRefused("unknown-asset-type", f"this AAdSys holds no {claims.asset_type} records",
                               claims.subscription_id)
        return claims

    def delivery(self, claims: GrantClaims) -> Delivery:
        found = self.deliveries.get(claims.subscription_id)
        if found is None or found.sealer.recipient != claims.consumer_encryption_key:
            if found is not None:
                found._stop_sending()
            found = Delivery(self, claims, Sealer(self.identity, claims.consumer_encryption_key))
            self.deliveries[claims.subscription_id] = found
        return found

    def keep_making(self, subscription_id: str, asset_type: str, valid_from: datetime, valid_to: datetime) -> None:
        """Real-time: make a delivery for every record of the type committed inside the window, as it commits,
        whether or not the consumer is connected (so its TTL runs from when the record was owed)."""
        if subscription_id not in self.makers or self.makers[subscription_id].done():
            self.makers[subscription_id] = spawn(self._make(subscription_id, asset_type, valid_from, valid_to),
                                                 f"maker {subscription_id}")

    async def _make(self, subscription_id: str, asset_type: str, valid_from: datetime, valid_to: datetime) -> None:
        while datetime.now(UTC) < valid_to:
            seen = self.events.own_commits[asset_type]
            made = await anyio.to_thread.run_sync(self.outbox.make_realtime, subscription_id, asset_type, valid_from,
                                                  valid_to)
            if made:
                delivery = self.deliveries.get(subscription_id)
                if delivery is not None:
                    delivery.wake.set()
                continue
            await self.events.wait_own(asset_type, seen, self.settings.poll_seconds)

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        """Keep deliveries coming for every live real-time subscription we provide; stop the rest."""
        wanted = {v.id: v for v in live if v.role is Role.PROVIDER and v.mode is Mode.REALTIME}
        for view in wanted.values():
            self.keep_making(view.id, view.asset_type, view.valid_from, view.valid_to)
        for subscription_id in [s for s in self.makers if s not in wanted]:
            if subscription_id not in self.deliveries:
                self.makers.pop(subscription_id).cancel()

    async def terminate(self, subscription_id: str, code: str, reason: str) -> None:
        self.ended[subscription_id] = (code, reason)
        maker = self.makers.pop(subscription_id, None)
        if maker is not None:
            maker.cancel()
        delivery = self.deliveries.pop(subscription_id, None)
        if delivery is not None:
            await delivery.close(code, reason)

    async def close_due(self, now: datetime | None = None) -> None:
        """Close channels whose real-time window ended or whose grant expired without a refresh."""
        now = now or datetime.now(UTC)
        for delivery in list(self.deliveries.values()):
            claims = delivery.claims
            if claims.mode == Mode.REALTIME and now >= claims.valid_to:
                await self.terminate(delivery.id, "window-ended", "the subscription's window has ended")
            elif delivery.sid and delivery.expires_at and now >= delivery.expires_at:
                await delivery.close("grant-expired", "the grant expired and no fresh one was presented")

    async def stop(self) -> None:
        for maker in self.makers.values():
            maker.cancel()
        for delivery in list(self.deliveries.values()):
            await delivery.close("shutting-down", "the provider is shutting down")


def _refusal(code: str, reason: str) -> socketio.exceptions.ConnectionRefusedError:
    """Refuses a connect; the consumer's ``connect_error`` gets ``{message, data: {code, reason}}``."""
    return socketio.exceptions.ConnectionRefusedError(reason, {"code": code, "reason": reason})


class ProviderChannel(socketio.AsyncNamespace):
    """The protocol of DESIGN §5 as one handler per event; each returns the event's ack."""

    def __init__(self, plane: ProviderPlane) -> None:
        super().__init__(NAMESPACE)
        self.plane = plane

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every event gets its answer: a handler that fails unexpectedly is logged and answered with a refusal
        that the consumer retries after, rather than left unanswered until the consumer's call times out."""
        try:
            return await super().trigger_event(event, *args)
        except socketio.exceptions.ConnectionRefusedError:
            raise
        except Exception:
            log.exception("channel: handling %r failed", event)
            if event == "connect":
                raise _refusal(INTERNAL, "the provider failed to admit this connection and logged why") from None
            return refused(INTERNAL, f"the provider failed on {event!r} and logged why; ask again")

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        plane = self.plane
        peer = str(environ.get("REMOTE_ADDR") or environ.get("asgi.scope", {}).get("client", ["?"])[0])
        try:
            presented = ChannelAuth.model_validate(auth or {})
        except ValidationError:
            await plane.refuse("malformed-auth", "connect auth is not {grant, nonce, proof}", peer=peer)
            raise _refusal("malformed-auth", "send {grant, nonce, proof} as the connect auth") from None
        subscription_id = None
        try:
            claims = await plane.admit(presented.grant)
            subscription_id = claims.subscription_id
            if not plane.challenges.take(presented.nonce, claims.subscription_id):
                raise GrantRefused("stale-nonce", "the nonce is unknown, used or older than "
                                                  f"{NONCE_SECONDS} s; ask for a fresh challenge")
            grant_digest = hashlib.sha256(presented.grant.encode()).hexdigest()
            if not verify_proof(claims.consumer_signing_key, presented.proof, PROOF_CHANNEL, presented.nonce,
                                grant_digest):
                raise GrantRefused("bad-proof", "the proof is not signed with the consumer key the grant names")
            await plane.admissions.confirm(claims, presented.grant)
        except GrantRefused as exc:
            await plane.refuse(exc.code, exc.reason, subscription_id=exc.subscription_id or subscription_id,
                               peer=peer)
            raise _refusal(exc.code, exc.reason) from None
        await self.save_session(sid, {"subscription": claims.subscription_id})
        await plane.delivery(claims).attach(sid, claims)
        log.info("channel open: subscription %s (%s, %s) from %s", claims.subscription_id, claims.mode,
                 claims.asset_type, peer)

    async def _delivery(self, sid: str, subscription_id: str) -> Delivery | None:
        session = await self.get_session(sid)
        if session.get("subscription") != subscription_id:
            return None
        delivery = self.plane.deliveries.get(subscription_id)
        return delivery if delivery is not None and delivery.sid == sid else None

    async def on_subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        try:
            request = SubscribeRequest.model_validate(data)
        except ValidationError as exc:
            return refused("malformed", str(exc.errors()[:3]))
        delivery = await self._delivery(sid, request.subscription_id)
        if delivery is None:
            return refused("wrong-subscription", "this channel was opened for another subscription")
        if delivery.claims.mode != Mode.REALTIME:
            return refused("wrong-mode", "this subscription is historical: send 'history'")
        pending = await delivery.start(request.after_seq, None)
        return {**OK, "total": pending}

    async def on_history(self, sid: str, data: Any) -> dict[str, Any]:
        try:
            request = HistoryRequest.model_validate(data)
        except ValidationError as exc:
            return refused("malformed", str(exc.errors()[:3]))
        delivery = await self._delivery(sid, request.subscription_id)
        if delivery is None:
            return refused("wrong-subscription", "this channel was opened for another subscription")
        claims = delivery.claims
        if claims.mode != Mode.HISTORICAL:
            return refused("wrong-mode", "this subscription is real-time: send 'subscribe'")
        if not claims.valid_from <= request.from_ <= request.to <= claims.valid_to:
            reason = (f"the range must lie inside the subscription's window {iso(claims.valid_from)} to "
                      f"{iso(claims.valid_to)}, with from <= to")
            await self.plane.refuse("outside-window", reason, subscription_id=claims.subscription_id)
            return refused("outside-window", reason)
        await delivery.start(request.after_seq, (request.from_, request.to))
        job = await anyio.to_thread.run_sync(self.plane.jobs.get, claims.subscription_id)
        return {**OK, "total": job.total if job else None}

    async def on_stored(self, sid: str, data: Any) -> None:
        try:
            notice = StoredNotice.model_validate(data)
        except ValidationError:
            return
        delivery = await self._delivery(sid, notice.subscription_id)
        if delivery is not None and notice.seqs:
            await delivery.confirm(notice.seqs)

    async def on_resend(self, sid: str, data: Any) -> None:
        try:
            request = ResendRequest.model_validate(data)
        except ValidationError:
            return
        delivery = await self._delivery(sid, request.subscription_id)
        if delivery is not None:
            log.info("subscription %s: consumer asks again for %s: %s", request.subscription_id, request.seqs,
                     request.reason)
            await delivery.resend(request.seqs)

    async def on_grant(self, sid: str, data: Any) -> dict[str, Any]:
        """A fresh grant for the open channel (grant refresh)."""
        try:
            refresh = GrantRefresh.model_validate(data)
            session = await self.get_session(sid)
            claims = await self.plane.admit(refresh.grant, subscription_id=session.get("subscription"))
            delivery = self.plane.deliveries.get(claims.subscription_id)
            if delivery is None or delivery.claims.consumer_signing_key != claims.consumer_signing_key:
                raise GrantRefused("bad-proof", "the fresh grant names another consumer key than the channel's")
        except ValidationError as exc:
            return refused("malformed", str(exc.errors()[:3]))
        except GrantRefused as exc:
            return refused(exc.code, exc.reason)
        delivery.claims, delivery.expires_at = claims, claims.expires_at
        return OK

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        with contextlib.suppress(KeyError):
            session = await self.get_session(sid)
            delivery = self.plane.deliveries.get(session.get("subscription", ""))
            if delivery is not None:
                await delivery.detach(sid)
