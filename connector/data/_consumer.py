"""The consumer's side of the channel (DESIGN §5): connect with the grant, receive, verify, store, confirm.

One ``Reception`` runs per subscription we consume. It asks the provider for a nonce, connects with the grant
and its proof, and asks for what it lacks (``subscribe`` from its last stored seq, or ``history`` for the
window). Each ``instance`` is acknowledged on receipt (tier 1) and queued; a worker takes the queue in
batches: it downloads linked payloads and files (streamed to disk, digest checked on the way), checks each
seal (recipient, sender, signature, decryption, sha256) and each record against its asset type, stores
the batch in one transaction through the core's inbox, and then confirms the stored seqs (tier 2). Anything
forged or tampered is refused, counted and never stored; a failed download is asked for again. After a
disconnect it reconnects with jittered, doubling backoff and resumes from the last stored seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import httpx
import socketio
from pydantic import ValidationError

from aadsys.core.db import Database
from aadsys.core.errors import CoreError, DigestMismatch, FileNotFound, FileTooLarge, MissingFiles
from aadsys.core.files import FileStore
from aadsys.core.inbox import Arrival, Inbox, Provenance, RecordRefused
from aas_models import Owner
from connector._identity import Identity
from connector._refusals import Refusals
from connector._sealing import FileSeal, Opener, file_binding, prove
from connector._settings import ConnectorSettings
from connector._tasks import spawn
from connector._wire import (
    CHALLENGE_ROUTE,
    LINK_ROUTE,
    NAMESPACE,
    OK,
    PROOF_CHANNEL,
    PROOF_LINK,
    SOCKETIO_PATH,
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
from connector.data import _received
from connector.data._history import HistoryJobs
from connector.data._states import HistoryState
from connector.errors import LinkRefused, SealBroken
from connector.spi import Mode, Role, SubscriptionView

log = logging.getLogger("connector.consumer")
FINAL_CODES = frozenset({"revoked", "cancelled", "expired", "completed", "rejected", "window-ended"})
CALL_TIMEOUT = 120.0
NOT_READY = "not-ready"


@dataclass
class ChannelStatus:
    connected: bool = False
    since: datetime | None = None
    last_error: str | None = None
    closed: str | None = None  # why the channel ended for good


class _Refusal(Exception):
    def __init__(self, seq: int, code: str, reason: str) -> None:
        self.seq, self.code, self.reason = seq, code, reason


class _Retry(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        self.seq, self.reason = seq, reason


@dataclass
class _Received:
    message: InstanceMessage
    fields: dict[str, Any]
    ciphertext: bytes


@dataclass
class Reception:
    """One consumed subscription's channel, from connect to the last confirmation."""

    plane: ConsumerPlane
    view: SubscriptionView
    status: ChannelStatus = field(default_factory=ChannelStatus)
    task: asyncio.Task[None] | None = None
    queue: asyncio.Queue[InstanceMessage] = field(default_factory=asyncio.Queue)
    presented_grant: str | None = None
    client: socketio.AsyncClient | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return self.view.id

    # -- the connection loop -----------------------------------------------------------------------------------
    async def run(self) -> None:
        settings = self.plane.settings
        delay = settings.reconnect_min_seconds
        while not self.done.is_set():
            self.queue = asyncio.Queue()
            wait: float | None = None  # None: the backoff delay
            try:
                await self._session()
                delay = settings.reconnect_min_seconds
            except _ConnectRefused as exc:
                self.status.last_error = f"{exc.code}: {exc.reason}"
                log.warning("subscription %s: the provider refused the channel: %s", self.id, self.status.last_error)
                if exc.code in FINAL_CODES:
                    self.finish(exc.code)
                    break
                # a refusal will not pass soon; missing grant or keys come with the control plane's next round
                wait = settings.poll_seconds if exc.code == NOT_READY else settings.reconnect_max_seconds
            except (httpx.HTTPError, socketio.exceptions.SocketIOError, OSError, TimeoutError) as exc:
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.info("subscription %s: channel down (%s); reconnecting", self.id, self.status.last_error)
            except Exception as exc:  # a bug must not end the reception for good: log it and start over
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("subscription %s: channel failed; reconnecting", self.id)
            finally:
                self.status.connected = False
                await self._drop_client()
            if self.done.is_set():
                break
            if wait is None:  # doubling backoff with jitter ("equal jitter"): spreads the reconnects of many
                wait, delay = delay, min(delay * 2, settings.reconnect_max_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), wait / 2 + random.uniform(0, wait / 2))

    def finish(self, reason: str) -> None:
        self.status.closed = reason
        self.done.set()

    async def _drop_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def _session(self) -> None:
        view = self.view
        if not view.grant or not view.peer_endpoint or not view.peer_signing_key or not view.peer_encryption_key:
            raise _ConnectRefused(NOT_READY, "no grant or provider endpoint and keys yet; waiting for the portal")
        plane = self.plane
        nonce = await plane.challenge(view)
        grant_digest = hashlib.sha256(view.grant.encode()).hexdigest()
        auth = ChannelAuth(grant=view.grant, nonce=nonce,
                           proof=prove(plane.identity, PROOF_CHANNEL, nonce, grant_digest))
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False, logger=False, engineio_logger=False,
                                      websocket_extra_options={"compress": 0, "max_msg_size": 64 * 1024 * 1024})
        namespace = ConsumerChannel(self)
        client.register_namespace(namespace)
        self.client = client
        try:
            await client.connect(view.peer_endpoint, socketio_path=SOCKETIO_PATH, namespaces=[NAMESPACE],
                                 transports=["websocket"], auth=auth.wire(), wait_timeout=15)
        except socketio.exceptions.ConnectionError:
            if namespace.refusal is not None:
                raise namespace.refusal from None
            raise
        self.presented_grant = view.grant
        self.status.connected, self.status.since, self.status.last_error = True, datetime.now(UTC), None
        worker = spawn(self._work(), f"worker {self.id}")
        try:
            await self._ask(client)
            while not namespace.gone.is_set() and not self.done.is_set():
                # never cancel client.wait(): that cancels the client's read loop and kills the connection
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(namespace.gone.wait(), self.plane.settings.poll_seconds)
                await self._refresh_grant(client)
                if worker.done():
                    worker.result()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if namespace.closing is not None:
            closing = namespace.closing
            raise _ConnectRefused(closing.code, closing.reason)

    async def _ask(self, client: socketio.AsyncClient) -> None:
        view, plane = self.view, self.plane
        after = (await anyio.to_thread.run_sync(_received.figures, plane.db, self.id)).last_seq
        if view.mode is Mode.REALTIME:
            answer = await client.call("subscribe", SubscribeRequest(subscription_id=self.id, after_seq=after).wire(),
                                       namespace=NAMESPACE, timeout=CALL_TIMEOUT)
        else:
            job = await anyio.to_thread.run_sync(plane.jobs.open, self.id, Role.CONSUMER, view.valid_from,
                                                 view.valid_to)
            if job.state in (HistoryState.FINISHED, HistoryState.REPORTED):
                self.finish("history complete")
                return
            answer = await client.call("history", HistoryRequest.model_validate(
                {"subscriptionId": self.id, "from": view.valid_from, "to": view.valid_to, "afterSeq": after}).wire(),
                namespace=NAMESPACE, timeout=CALL_TIMEOUT)
        ack = Ack.model_validate(answer)
        if not ack.ok:
            raise _ConnectRefused(ack.code or "refused", ack.reason or "the provider refused the request")
        if view.mode is Mode.HISTORICAL and ack.total is not None:
            await anyio.to_thread.run_sync(plane.jobs.set_total, self.id, ack.total)
        log.info("subscription %s: channel open, resuming after seq %d (%s to come)", self.id, after, ack.total)

    async def _refresh_grant(self, client: socketio.AsyncClient) -> None:
        grant = self.view.grant
        if client.connected and grant and grant != self.presented_grant:
            answer = await client.call("grant", GrantRefresh(grant=grant).wire(), namespace=NAMESPACE,
                                       timeout=CALL_TIMEOUT)
            if Ack.model_validate(answer).ok:
                self.presented_grant = grant

    # -- receiving ---------------------------------------------------------------------------------------------
    def receive(self, data: Any) -> dict[str, Any]:
        """Tier 1: the message arrived and is queued (checked and stored later, in order)."""
        try:
            message = InstanceMessage.model_validate(data)
        except ValidationError as exc:
            return refused("malformed", f"not an instance message: {exc.errors()[:2]}")
        if message.subscription_id != self.id:
            return refused("wrong-subscription", "this channel is for another subscription")
        self.queue.put_nowait(message)
        return OK

    async def _work(self) -> None:
        batch_max = self.plane.settings.batch_max
        while True:
            batch = [await self.queue.get()]
            while len(batch) < batch_max and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self._process(batch)

    async def _process(self, batch: Sequence[InstanceMessage]) -> None:
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
        client = self.client
        if client is None or not client.connected:
            return
        if stored:
            await client.emit("stored", StoredNotice(subscription_id=self.id, seqs=stored).wire(), namespace=NAMESPACE)
        if retry:
            await client.emit("resend", ResendRequest(subscription_id=self.id, seqs=[r.seq for r in retry],
                                                      reason="; ".join(r.reason for r in retry)[:500]).wire(),
                              namespace=NAMESPACE)

    async def _fetch(self, message: InstanceMessage) -> _Received:
        """The message's header read, its payload and files at hand (downloads streamed and checked)."""
        opener = self.plane.opener(self.view)
        try:
            fields = opener.read_header(message.header)
        except SealBroken as exc:
            raise _Refusal(message.seq, exc.code, exc.reason) from None
        if fields.get("subscriptionId") != self.id or fields.get("seq") != message.seq:
            raise _Refusal(message.seq, "replayed", "the sealed header names another subscription or seq than "
                                                    "the message carrying it")
        if fields.get("assetType") != self.view.asset_type:
            raise _Refusal(message.seq, "wrong-asset-type", f"the subscription is for {self.view.asset_type}")
        tokens = {ref.sha256: ref.token for ref in message.files}
        for entry in fields.get("files") or []:
            await self._fetch_file(message.seq, entry, tokens)
        if message.ciphertext is not None:
            return _Received(message, fields, message.ciphertext)
        if message.link is None:
            raise _Refusal(message.seq, "malformed", "the message has neither ciphertext nor link")
        return _Received(message, fields, await self._fetch_payload(message.seq, message.link))

    async def _fetch_payload(self, seq: int, link: LinkRef) -> bytes:
        limit = max(self.plane.max_body_bytes * 2, 1024 * 1024)
        if link.size > limit:
            raise _Refusal(seq, "too-large", f"the linked payload has {link.size} bytes; we take at most {limit}")
        try:
            async with self.plane.download(self.view, link.token) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise _Refusal(seq, "too-large", "the linked payload is larger than announced")
                    chunks.append(chunk)
        except (LinkRefused, httpx.HTTPError) as exc:
            raise _Retry(seq, f"payload link: {exc}") from None
        return b"".join(chunks)

    async def _fetch_file(self, seq: int, entry: dict[str, Any], tokens: dict[str, str]) -> None:
        plane = self.plane
        try:
            sha, media_type = str(entry["sha256"]), str(entry["mediaType"])
            seal = FileSeal(str(entry["salt"]), str(entry["nonce"]))
        except KeyError as exc:
            raise _Refusal(seq, "malformed", f"a file entry lacks {exc}") from None
        with contextlib.suppress(FileNotFound):
            await anyio.to_thread.run_sync(plane.files.get, sha)
            return  # we have this content already
        if sha not in tokens:
            raise _Refusal(seq, "malformed", f"no link for file {sha}")
        opener = plane.opener(self.view)
        try:
            async with plane.download(self.view, tokens[sha]) as response:
                plaintext = opener.decrypt_file(response.aiter_bytes(), seal, file_binding(self.id, sha))
                await plane.files.put(plaintext, media_type, max_bytes=plane.max_file_bytes, expected_sha256=sha)
        except SealBroken as exc:
            await anyio.to_thread.run_sync(self._record, [_Refusal(seq, exc.code, f"file {sha}: {exc.reason}")])
            raise _Retry(seq, f"file {sha} failed its check") from None
        except (DigestMismatch, FileTooLarge, LinkRefused, httpx.HTTPError) as exc:
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
                arrival = Arrival(seq, str(fields["assetType"]), str(fields["instanceKey"]), int(fields["revision"]),
                                  datetime.fromisoformat(str(fields["createdAt"]).replace("Z", "+00:00")),
                                  str(fields["sha256"]), plaintext)
                checked.append((arrival, plane.inbox.check(provenance, arrival)))
            except SealBroken as exc:
                refusals.append(_Refusal(seq, exc.code, exc.reason))
            except RecordRefused as exc:
                refusals.append(_Refusal(seq, "invalid-record", exc.reason))
            except (KeyError, TypeError, ValueError) as exc:
                refusals.append(_Refusal(seq, "malformed", f"bad header field: {exc}"))
        while checked:
            try:
                receipts = plane.inbox.store(provenance, checked)
                return [r.seq for r in receipts], refusals, retry
            except RecordRefused as exc:
                refusals.append(_Refusal(exc.seq, "conflict", exc.reason))
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
            self.plane.refusals.record(refusal.code, refusal.reason, subscription_id=self.id, seq=refusal.seq,
                                       peer=self.view.peer_org_id)

    async def history_complete(self, data: Any) -> dict[str, Any]:
        """The provider says the range is complete: our own figures, kept for our report to the portal."""
        try:
            notice = HistoryComplete.model_validate(data)
        except ValidationError as exc:
            return refused("malformed", str(exc.errors()[:2]))
        count, digest = await anyio.to_thread.run_sync(_received.digest, self.plane.db, self.id)
        await anyio.to_thread.run_sync(partial(self.plane.jobs.move, self.id, HistoryState.FINISHED, count=count,
                                               digest=digest))
        agree = (count, digest) == (notice.count, notice.digest)
        log.info("subscription %s: historical transfer complete: provider %d, stored %d (%s)", self.id,
                 notice.count, count, "agree" if agree else "DIFFER")
        self.finish("history complete")
        return Ack(ok=agree, total=count, code=None if agree else "mismatch",
                   reason=None if agree else f"stored {count} with digest {digest}").wire()


class _ConnectRefused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason


class ConsumerChannel(socketio.AsyncClientNamespace):
    """The consumer's handlers of the provider's events (DESIGN §5)."""

    def __init__(self, reception: Reception) -> None:
        super().__init__(NAMESPACE)
        self.reception = reception
        self.refusal: _ConnectRefused | None = None
        self.closing: Closing | None = None
        self.gone = asyncio.Event()

    async def on_disconnect(self, reason: Any = None) -> None:
        self.gone.set()

    async def on_connect_error(self, data: Any) -> None:
        info: dict[str, Any] = data if isinstance(data, dict) else {"message": str(data)}
        nested = info.get("data")
        detail: dict[str, Any] = nested if isinstance(nested, dict) else info
        self.refusal = _ConnectRefused(str(detail.get("code", "refused")),
                                       str(detail.get("reason") or info.get("message") or info))

    async def on_instance(self, data: Any) -> dict[str, Any]:
        return self.reception.receive(data)

    async def on_history_complete(self, data: Any) -> dict[str, Any]:
        return await self.reception.history_complete(data)

    async def on_closing(self, data: Any) -> None:
        with contextlib.suppress(ValidationError):
            self.closing = Closing.model_validate(data)
            log.info("subscription %s: the provider closes the channel: %s", self.closing.subscription_id,
                     self.closing.reason)


class ConsumerPlane:
    """The consumer's data plane: one ``Reception`` per subscription we consume."""

    def __init__(self, settings: ConnectorSettings, identity: Identity, inbox: Inbox, files: FileStore,
                 jobs: HistoryJobs, refusals: Refusals, *, db: Database, max_body_bytes: int, max_file_bytes: int,
                 http: httpx.AsyncClient | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.settings, self.identity, self.inbox, self.files = settings, identity, inbox, files
        self.jobs, self.refusals, self.db = jobs, refusals, db
        self.max_body_bytes, self.max_file_bytes = max_body_bytes, max_file_bytes
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        self.receptions: dict[str, Reception] = {}
        self._openers: dict[tuple[str, str], Opener] = {}

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

    async def challenge(self, view: SubscriptionView) -> str:
        assert view.peer_endpoint and view.grant
        response = await self.http.post(f"{view.peer_endpoint}{CHALLENGE_ROUTE}",
                                        headers={"Authorization": f"Bearer {view.grant}"})
        if response.status_code != 201:
            problem = _json(response)
            raise _ConnectRefused(str(problem.get("code") or response.status_code),
                                  str(problem.get("detail") or response.text[:300]))
        return str(response.json()["nonce"])

    @contextlib.asynccontextmanager
    async def download(self, view: SubscriptionView, token: str) -> Any:
        """A one-time link's response, streamed; ``LinkRefused`` if the provider will not serve it."""
        headers = {"X-Link-Proof": prove(self.identity, PROOF_LINK, token)}
        async with self.http.stream("GET", f"{view.peer_endpoint}{LINK_ROUTE}/{token}", headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                raise LinkRefused(response.status_code, str(_json(response).get("detail") or response.text[:200]),
                                  retry=response.status_code == 410)
            yield response

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        wanted = {v.id: v for v in live if v.role is Role.CONSUMER}
        for view in wanted.values():
            reception = self.receptions.get(view.id)
            if reception is None or (reception.done.is_set() and view.mode is Mode.REALTIME):
                reception = Reception(self, view)
                self.receptions[view.id] = reception
                reception.task = spawn(reception.run(), f"reception {view.id}")
            reception.view = view
        for subscription_id, reception in list(self.receptions.items()):
            if subscription_id not in wanted and not reception.done.is_set():
                await self._end(reception, "the subscription is no longer approved or active")

    async def terminate(self, subscription_id: str, code: str, reason: str) -> None:
        reception = self.receptions.get(subscription_id)
        if reception is not None:
            await self._end(reception, f"{code}: {reason}")

    @staticmethod
    async def _end(reception: Reception, why: str) -> None:
        reception.finish(why)
        await reception._drop_client()

    async def stop(self) -> None:
        for reception in self.receptions.values():
            reception.finish("shutting down")
            await reception._drop_client()
            if reception.task is not None:
                reception.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reception.task
        await self.http.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

