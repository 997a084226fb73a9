"""The consumer's side of the channel (DESIGN §5): connect with the grant, receive, verify, store, confirm.

One ``Reception`` runs per subscription we consume. Through its provider's ``ProviderPeer`` it asks for a nonce,
connects with the grant and its proof, and asks for what it lacks (``subscribe`` from its last stored seq, or
``history`` for the window). Each ``instance`` is acknowledged on receipt (tier 1) and queued; a worker takes
the queue in batches: it downloads linked payloads and files (streamed to disk, digest checked on the way),
checks each seal (recipient, sender, signature, decryption, sha256) and each record against its asset type,
stores the batch in one transaction through the core's inbox, and then confirms the stored seqs (tier 2).
Anything forged or tampered is refused, counted and never stored; a failed download is asked for again. After
a disconnect it reconnects with jittered, doubling backoff and resumes from the last stored seq; a refusal whose
code is final (``codes.FINAL``: the subscription ended) ends it for good.

Tasks: the plane's ``run`` owns one ``TaskGroup``, each reception is a child, and each open channel's worker
is a child of a group the reception holds for that channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import anyio
from pydantic import ValidationError

from aadsys.core.db import Database
from aadsys.core.errors import CoreError, DigestMismatch, FileNotFound, FileTooLarge, MissingFiles
from aadsys.core.files import FileStore
from aadsys.core.inbox import Arrival, Inbox, Outcome, Provenance, RecordRefused
from aas_models import Owner
from connector._clock import Clock
from connector._identity import Identity
from connector._leases import Fence, LeaseKeeper, LeaseLost
from connector._metrics import ConnectorMetrics, Direction, Event
from connector._refusals import Refusals
from connector._sealing import FileSeal, Opener, file_binding, prove
from connector._settings import ConnectorSettings
from connector._tasks import cancel_and_wait, first_error, guarded, run_forever
from connector._wire import (
    OK,
    PROOF_CHANNEL,
    PROOF_LINK,
    Ack,
    ChannelAuth,
    Closing,
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
from connector.codes import FINAL, RETRY_SOON, Code
from connector.data import _received
from connector.data._history import HistoryJobs
from connector.data._states import HistoryState
from connector.data._transport import Channel, Dialer, ProviderPeer
from connector.errors import ChannelDown, ChannelRefused, LinkRefused, SealBroken
from connector.spi import Mode, Role, SubscriptionView

log = logging.getLogger("connector.consumer")
CALL_TIMEOUT = 120.0
ROLE = Role.CONSUMER.value


@dataclass
class ChannelStatus:
    connected: bool = False
    since: datetime | None = None  # when the open channel connected
    last_error: str | None = None
    closed: str | None = None  # why the channel ended for good
    retry_at: datetime | None = None  # when the next attempt to connect is due, while waiting for it


class _Refusal(Exception):
    def __init__(self, seq: int, code: Code, reason: str) -> None:
        self.seq, self.code, self.reason = seq, code, reason


class _Retry(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        self.seq, self.reason = seq, reason


@dataclass
class _Received:
    message: InstanceMessage
    fields: dict[str, Any]
    ciphertext: bytes


class _Session:
    """The ``Receiver`` of one open channel."""

    def __init__(self, reception: Reception) -> None:
        self.reception = reception
        self.gone = asyncio.Event()
        self.closing: Closing | None = None

    def on_instance(self, data: Any) -> dict[str, Any]:
        return self.reception.receive(data)

    async def on_history_complete(self, data: Any) -> dict[str, Any]:
        return await self.reception.history_complete(data)

    def on_closing(self, data: Any) -> None:
        with contextlib.suppress(ValidationError):
            self.closing = Closing.model_validate(data)
            log.info("subscription %s: the provider closes the channel: %s", self.reception.id,
                     self.closing.reason)

    def on_disconnect(self) -> None:
        self.gone.set()


@dataclass
class Reception:
    """One consumed subscription's channel, from connect to the last confirmation."""

    plane: ConsumerPlane
    view: SubscriptionView
    fence: Fence
    status: ChannelStatus = field(default_factory=ChannelStatus)
    task: asyncio.Task[None] | None = None
    queue: asyncio.Queue[InstanceMessage] = field(default_factory=asyncio.Queue)
    presented_grant: str | None = None
    channel: Channel | None = None
    peer: ProviderPeer | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _session: _Session | None = None

    @property
    def id(self) -> str:
        return self.view.id

    @property
    def clock(self) -> Clock:
        return self.plane.clock

    # -- the connection loop -----------------------------------------------------------------------------------
    async def run(self) -> None:
        settings = self.plane.settings
        delay = settings.reconnect_min_seconds
        self._connected(False)  # down until the first channel opens
        while not self.done.is_set():
            wait: float | None = None  # None: the backoff delay
            try:
                await self._open_and_follow()
                delay = settings.reconnect_min_seconds
            except ChannelRefused as exc:
                self.status.last_error = f"{exc.code}: {exc.reason}"
                log.warning("subscription %s: the provider refused the channel: %s", self.id, self.status.last_error)
                if exc.code in FINAL:
                    self.finish(exc.code)
                    break
                if exc.code is Code.NOT_READY:  # grant or keys come with the control plane's next round
                    wait = settings.poll_seconds
                elif exc.code not in RETRY_SOON:  # this grant will not pass soon
                    wait = settings.reconnect_max_seconds
            except ChannelDown as exc:
                self.status.last_error = str(exc)
                log.info("subscription %s: channel down (%s); reconnecting", self.id, exc)
            except LeaseLost:
                self.finish("another worker took this subscription's reception over")
                log.warning("subscription %s: another worker took the reception over; this one stops", self.id)
            except Exception as exc:  # a bug must not end the reception for good: log it and start over
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("subscription %s: channel failed; reconnecting", self.id)
            finally:
                self._connected(False)
                await self._drop_channel()
            if self.done.is_set():
                break
            if wait is None:  # doubling backoff with jitter ("equal jitter"): spreads the reconnects of many
                wait, delay = delay, min(delay * 2, settings.reconnect_max_seconds)
            pause = wait / 2 + random.uniform(0, wait / 2)
            self.status.retry_at = self.clock.now() + timedelta(seconds=pause)
            await self.clock.wait(self.done, pause)
            self.status.retry_at = None

    def _connected(self, up: bool) -> None:
        self.status.connected = up
        self.plane.metrics.channel(self.id, Role.CONSUMER, up=up)

    def finish(self, reason: str) -> None:
        self.status.closed = reason
        self.done.set()
        if self._session is not None:
            self._session.gone.set()

    async def _drop_channel(self) -> None:
        channel, self.channel = self.channel, None
        if channel is not None:
            await channel.close()

    async def _open_and_follow(self) -> None:
        view, plane = self.view, self.plane
        if not view.grant or not view.peer_endpoint or not view.peer_signing_key or not view.peer_encryption_key:
            raise ChannelRefused(Code.NOT_READY, "no grant or provider endpoint and keys yet; waiting for the portal")
        self.peer = peer = plane.dial(view.peer_endpoint)
        nonce = await peer.challenge(view.grant)
        grant_digest = hashlib.sha256(view.grant.encode()).hexdigest()
        auth = ChannelAuth(grant=view.grant, nonce=nonce, proof=prove(plane.identity, PROOF_CHANNEL, nonce,
                                                                      grant_digest))
        self.queue = asyncio.Queue()
        self._session = session = _Session(self)
        self.channel = channel = await peer.open(auth.wire(), session)
        self.presented_grant = view.grant
        self._connected(True)
        self.status.since, self.status.last_error = self.clock.now(), None
        await self._ask(channel)  # what arrives meanwhile waits in the queue, bounded by the provider's window
        try:
            async with asyncio.TaskGroup() as tasks:
                worker = tasks.create_task(self._work(channel))
                while not session.gone.is_set() and not self.done.is_set():
                    await self.clock.wait(session.gone, self.plane.settings.poll_seconds)
                    await self._refresh_grant(channel)
                await cancel_and_wait(worker)
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        if session.closing is not None:
            raise ChannelRefused.of(session.closing.code, session.closing.reason)

    async def _ask(self, channel: Channel) -> None:
        view, plane = self.view, self.plane
        after = (await anyio.to_thread.run_sync(_received.figures, plane.db, self.id)).last_seq
        if view.mode is Mode.REALTIME:
            answer = await channel.call("subscribe", SubscribeRequest(subscription_id=self.id, after_seq=after)
                                        .wire(), CALL_TIMEOUT)
        else:
            job = await anyio.to_thread.run_sync(partial(plane.jobs.open, self.id, Role.CONSUMER, view.valid_from,
                                                         view.valid_to, fence=self.fence))
            if job.state in (HistoryState.FINISHED, HistoryState.REPORTED):
                self.finish("history complete")
                return
            answer = await channel.call("history", HistoryRequest.model_validate(
                {"subscriptionId": self.id, "from": view.valid_from, "to": view.valid_to, "afterSeq": after}).wire(),
                CALL_TIMEOUT)
        try:
            ack = Ack.model_validate(answer)
        except ValidationError:
            raise ChannelRefused(Code.MALFORMED, f"the provider answered {str(answer)[:200]}") from None
        if not ack.ok:
            raise ChannelRefused.of(ack.code or Code.MALFORMED, ack.reason or "the provider refused the request")
        if view.mode is Mode.HISTORICAL and ack.total is not None:
            await anyio.to_thread.run_sync(partial(plane.jobs.set_total, self.id, ack.total, fence=self.fence))
        log.info("subscription %s: channel open, resuming after seq %d (%s to come)", self.id, after, ack.total)

    async def _refresh_grant(self, channel: Channel) -> None:
        grant = self.view.grant
        if channel.connected and grant and grant != self.presented_grant:
            answer = await channel.call("grant", GrantRefresh(grant=grant).wire(), CALL_TIMEOUT)
            if isinstance(answer, dict) and answer.get("ok"):
                self.presented_grant = grant

    # -- receiving ---------------------------------------------------------------------------------------------
    def receive(self, data: Any) -> dict[str, Any]:
        """Tier 1: the message arrived and is queued (checked and stored later, in order)."""
        try:
            message = InstanceMessage.model_validate(data)
        except ValidationError as exc:
            return refused(Code.MALFORMED, f"not an instance message: {exc.errors()[:2]}")
        if message.subscription_id != self.id:
            return refused(Code.WRONG_SUBSCRIPTION, "this channel is for another subscription")
        if self.queue.qsize() >= self.plane.settings.inbound_max:  # a provider that outruns its window
            return refused(Code.SLOW_DOWN, f"{self.queue.qsize()} records wait to be stored here; send again later")
        self.queue.put_nowait(message)
        return OK

    async def _work(self, channel: Channel) -> None:
        batch_max = self.plane.settings.batch_max
        while True:
            batch = [await self.queue.get()]
            while len(batch) < batch_max and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self._process(batch, channel)

    async def _process(self, batch: Sequence[InstanceMessage], channel: Channel) -> None:
        received: list[_Received] = []
        retry: list[_Retry] = []
        refusals: list[_Refusal] = []
        for message in batch:
            try:
                received.append(await self._fetch(message))
            except _Refusal as exc:
                refusals.append(exc)
            except _Retry as exc:
                retry.append(exc)
        stored, late_refusals, late_retry = await anyio.to_thread.run_sync(self._open_and_store, received)
        refusals += late_refusals
        retry += late_retry
        if refusals:
            await anyio.to_thread.run_sync(self._record, refusals)
        if not channel.connected:
            return
        if stored:
            await channel.emit("stored", StoredNotice(subscription_id=self.id, seqs=stored).wire())
        if retry:
            await channel.emit("resend", ResendRequest(subscription_id=self.id, seqs=[r.seq for r in retry],
                                                       reason="; ".join(r.reason for r in retry)[:500]).wire())

    async def _fetch(self, message: InstanceMessage) -> _Received:
        """The message's header read, its payload and files at hand (downloads streamed and checked)."""
        opener = self.plane.opener(self.view)
        try:
            fields = opener.read_header(message.header)
        except SealBroken as exc:
            raise _Refusal(message.seq, exc.code, exc.reason) from None
        if fields.get("subscriptionId") != self.id or fields.get("seq") != message.seq:
            raise _Refusal(message.seq, Code.REPLAYED, "the sealed header names another subscription or seq than "
                                                       "the message carrying it")
        if fields.get("assetType") != self.view.asset_type:
            raise _Refusal(message.seq, Code.WRONG_ASSET_TYPE, f"the subscription is for {self.view.asset_type}")
        tokens = {ref.sha256: ref.token for ref in message.files}
        for entry in fields.get("files") or []:
            await self._fetch_file(message.seq, entry, tokens)
        if message.ciphertext is not None:
            return _Received(message, fields, message.ciphertext)
        if message.link is None:
            raise _Refusal(message.seq, Code.MALFORMED, "the message has neither ciphertext nor link")
        return _Received(message, fields, await self._fetch_payload(message.seq, message.link))

    def _download(self, token: str) -> Any:
        assert self.peer is not None
        return self.peer.download(token, prove(self.plane.identity, PROOF_LINK, token))

    async def _fetch_payload(self, seq: int, link: LinkRef) -> bytes:
        limit = payload_limit(self.plane.max_body_bytes)
        if link.size > limit:
            raise _Refusal(seq, Code.TOO_LARGE, f"the linked payload has {link.size} bytes; we take at most {limit}")
        try:
            async with self._download(link.token) as content:
                chunks, size = [], 0
                async for chunk in content:
                    size += len(chunk)
                    if size > limit:
                        raise _Refusal(seq, Code.TOO_LARGE, "the linked payload is larger than announced")
                    chunks.append(chunk)
        except (LinkRefused, ChannelDown) as exc:
            raise _Retry(seq, f"payload link: {exc}") from None
        return b"".join(chunks)

    async def _fetch_file(self, seq: int, entry: dict[str, Any], tokens: dict[str, str]) -> None:
        plane = self.plane
        try:
            sha, media_type = str(entry["sha256"]), str(entry["mediaType"])
            seal = FileSeal(str(entry["salt"]), str(entry["nonce"]))
        except (KeyError, TypeError) as exc:
            raise _Refusal(seq, Code.MALFORMED, f"a file entry lacks {exc}") from None
        with contextlib.suppress(FileNotFound):
            await anyio.to_thread.run_sync(plane.files.get, sha)
            return  # we have this content already
        if sha not in tokens:
            raise _Refusal(seq, Code.MALFORMED, f"no link for file {sha}")
        opener = plane.opener(self.view)
        try:
            async with self._download(tokens[sha]) as content:
                plaintext = opener.decrypt_file(content, seal, file_binding(self.id, sha))
                await plane.files.put(plaintext, media_type, max_bytes=plane.max_file_bytes, expected_sha256=sha)
        except SealBroken as exc:
            await anyio.to_thread.run_sync(self._record, [_Refusal(seq, exc.code, f"file {sha}: {exc.reason}")])
            raise _Retry(seq, f"file {sha} failed its check") from None
        except (DigestMismatch, FileTooLarge, LinkRefused, ChannelDown) as exc:
            raise _Retry(seq, f"file {sha}: {exc}") from None

    def _open_and_store(self, received: Sequence[_Received]) -> tuple[list[int], list[_Refusal], list[_Retry]]:
        """Open each seal, check each record, store the batch (blocking: runs in a worker thread)."""
        plane = self.plane
        opener, provenance = plane.opener(self.view), plane.provenance(self.view)
        refusals: list[_Refusal] = []
        retry: list[_Retry] = []
        checked = []
        for item in received:
            seq = item.message.seq
            try:
                fields, plaintext = opener.open(item.message.header, item.ciphertext, item.message.signature,
                                                fields=item.fields)
                plane.metrics.payload(Direction.RECEIVED, len(plaintext))
                arrival = Arrival(seq, str(fields["assetType"]), str(fields["instanceKey"]), int(fields["revision"]),
                                  datetime.fromisoformat(str(fields["createdAt"]).replace("Z", "+00:00")),
                                  str(fields["sha256"]), plaintext)
                checked.append((arrival, plane.inbox.check(provenance, arrival)))
            except SealBroken as exc:
                refusals.append(_Refusal(seq, exc.code, exc.reason))
            except RecordRefused as exc:
                refusals.append(_Refusal(seq, Code.INVALID_RECORD, exc.reason))
            except (KeyError, TypeError, ValueError) as exc:
                refusals.append(_Refusal(seq, Code.MALFORMED, f"bad header field: {exc}"))
        while checked:
            try:
                receipts = plane.inbox.store(provenance, checked, guard=self.fence.check)
                plane.metrics.delivered(self.id, Event.RECEIVED,
                                        sum(r.outcome is Outcome.STORED for r in receipts))
                return [r.seq for r in receipts], refusals, retry
            except RecordRefused as exc:
                refusals.append(_Refusal(exc.seq, Code.CONFLICT, exc.reason))
                checked = [c for c in checked if c[0].seq != exc.seq]
            except MissingFiles as exc:
                missing = set(exc.digests)
                retry += [_Retry(a.seq, "files missing") for a, r in checked if missing & set(r.file_digests)]
                checked = [(a, r) for a, r in checked if not missing & set(r.file_digests)]
            except CoreError as exc:
                retry += [_Retry(a.seq, str(exc)) for a, _ in checked]
                checked = []
        return [], refusals, retry

    def _record(self, refusals: Sequence[_Refusal]) -> None:
        for refusal in refusals:
            self.plane.refusals.record(refusal.code, refusal.reason, side=Role.CONSUMER, subscription_id=self.id,
                                       seq=refusal.seq, peer=self.view.peer_org_id)

    async def history_complete(self, data: Any) -> dict[str, Any]:
        """The provider says the range is complete: our own figures, kept for our report to the portal."""
        try:
            notice = HistoryComplete.model_validate(data)
        except ValidationError as exc:
            return refused(Code.MALFORMED, str(exc.errors()[:2]))
        count, digest = await anyio.to_thread.run_sync(_received.digest, self.plane.db, self.id)
        await anyio.to_thread.run_sync(partial(self.plane.jobs.move, self.id, HistoryState.FINISHED, count=count,
                                               digest=digest, fence=self.fence))
        agree = (count, digest) == (notice.count, notice.digest)
        log.info("subscription %s: historical transfer complete: provider %d, stored %d (%s)", self.id,
                 notice.count, count, "agree" if agree else "DIFFER")
        self.finish("history complete")
        return Ack(ok=agree, total=count, code=None if agree else Code.MISMATCH,
                   reason=None if agree else f"stored {count} with digest {digest}").wire()


@dataclass
class ConsumerPlane:
    """The consumer's data plane: one ``Reception`` per subscription we consume whose lease this worker holds."""

    settings: ConnectorSettings
    identity: Identity
    inbox: Inbox
    files: FileStore
    jobs: HistoryJobs
    refusals: Refusals
    db: Database
    dial: Dialer
    clock: Clock
    keeper: LeaseKeeper
    metrics: ConnectorMetrics
    max_body_bytes: int
    max_file_bytes: int
    receptions: dict[str, Reception] = field(default_factory=dict)
    _live: dict[str, SubscriptionView] = field(default_factory=dict)
    _openers: dict[tuple[str, str], Opener] = field(default_factory=dict)
    _group: asyncio.TaskGroup | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.keeper.serve(ROLE, taken=self._taken, lost=self._lost)

    async def run(self) -> None:
        """Owns every reception's task until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            self._ready.set()
            await run_forever()

    def opener(self, view: SubscriptionView) -> Opener:
        assert view.peer_signing_key and view.peer_encryption_key
        key = (view.peer_signing_key, view.peer_encryption_key)
        if key not in self._openers:
            self._openers[key] = Opener(self.identity, *key)
        return self._openers[key]

    @staticmethod
    def provenance(view: SubscriptionView) -> Provenance:
        assert view.provider_owner and view.provider_base_iri
        return Provenance(view.id, Owner(view.provider_owner, view.provider_base_iri), view.peer_org_id)

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        self._live = {v.id: v for v in live if v.role is Role.CONSUMER}
        for view in self._live.values():
            reception = self.receptions.get(view.id)
            if reception is not None:
                reception.view = view
                if reception.done.is_set() and view.mode is Mode.REALTIME:  # asked again: a fresh reception
                    await self._start(view, reception.fence)
            elif (fence := self.keeper.fence(view.id, ROLE)) is not None:
                await self._start(view, fence)
        for subscription_id, reception in list(self.receptions.items()):
            if subscription_id not in self._live and not reception.done.is_set():
                await self._end(reception, "the subscription is no longer approved or active")
        self.keeper.want(ROLE, self._live)

    async def _start(self, view: SubscriptionView, fence: Fence) -> None:
        await self._ready.wait()
        assert self._group is not None
        await self._end(self.receptions.get(view.id), "replaced")
        reception = self.receptions[view.id] = Reception(self, view, fence)
        reception.task = self._group.create_task(guarded(reception.run(), f"reception of {view.id}"))

    async def _taken(self, subscription_id: str, fence: Fence) -> None:
        view = self._live.get(subscription_id)
        if view is not None:
            await self._start(view, fence)

    async def _lost(self, subscription_id: str) -> None:
        await self._end(self.receptions.pop(subscription_id, None), "another worker receives it now")

    async def terminate(self, subscription_id: str, code: Code, reason: str) -> None:
        self._live.pop(subscription_id, None)
        await self._end(self.receptions.get(subscription_id), f"{code}: {reason}")
        await self.keeper.release(subscription_id, ROLE)
        self.keeper.want(ROLE, self._live)

    @staticmethod
    async def _end(reception: Reception | None, why: str) -> None:
        if reception is None:
            return
        reception.finish(why)
        await reception._drop_channel()
        await cancel_and_wait(reception.task)

    async def stop_all(self) -> None:
        for reception in list(self.receptions.values()):
            await self._end(reception, "shutting down")

    def channels(self) -> dict[str, dict[str, Any]]:
        return {sid: {"connected": r.status.connected, "since": _iso(r.status.since),
                      "lastError": r.status.last_error, "closed": r.status.closed, "retryAt": _iso(r.status.retry_at),
                      "leaseEpoch": r.fence.epoch}
                for sid, r in self.receptions.items()}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def payload_limit(max_body_bytes: int) -> int:
    """The largest sealed payload a consumer takes: its AAS JSON may be twice the business body it would accept."""
    return max(max_body_bytes * 2, 1024 * 1024)


def message_limit(max_body_bytes: int) -> int:
    """The largest channel message a consumer reads: an inline payload in base64, plus header and framing. A
    provider's larger frame closes its own channel, never grows the consumer's memory."""
    return payload_limit(max_body_bytes) * 4 // 3 + 256 * 1024
