"""The provider's side of the channel (DESIGN §5): admission, then delivery with two-tier confirmation.

A transport (``_socketio``, or the in-memory pair of the tests) hands ``ProviderPlane`` each consumer connection
and each event; the plane answers through the connection's ``ConsumerLink``. One ``Flow`` runs per
subscription: it makes outbox rows as records commit (real-time) or for a range (historical), sends them in seq
order within a window of unconfirmed messages, sends again what the consumer received but did not confirm
stored in time, and closes the channel when the window ends, the grant runs out unrefreshed, or the
subscription is revoked. Flows are independent: a slow or dead consumer fills only its own window.

Tasks: the plane's ``run`` owns one ``TaskGroup``; each flow is a child with a group of its own, holding its
record maker (real-time) and its sender.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from sqlalchemy import select

from aadsys.core.errors import FileNotFound
from aadsys.core.files import FileStore
from aadsys.core.instances import InstanceService, iso
from aadsys.core.notifications import listening
from aadsys.core.tables import InstanceRow, table_of
from aas_models import referenced_files
from connector._budget import Budget
from connector._clock import Clock
from connector._identity import Identity
from connector._leases import Fence, LeaseKeeper, LeaseLost
from connector._metrics import ConnectorMetrics, Direction, Event
from connector._refusals import Refusals
from connector._sealing import CHUNK_BYTES, FileSeal, Sealer, file_binding
from connector._settings import ConnectorSettings
from connector._tasks import cancel_and_wait, guarded, run_forever
from connector._wire import (
    OK,
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
from connector.codes import Code
from connector.data._history import HistoryJobs
from connector.data._links import Links, NewLink
from connector.data._outbox import Outbox, Outgoing
from connector.data._states import HistoryState
from connector.data._transport import ConsumerLink
from connector.errors import Fallen, GrantRefused, LinkRefused
from connector.spi import Admissions, GrantClaims, Mode, Role, SubscriptionView

log = logging.getLogger("connector.provider")
SEAL_BATCH = 64  # deliveries claimed and sealed per hop to a worker thread
ROLE = Role.PROVIDER.value
RESEND_PER_EVENT = 8  # seqs of a 'resend' that cost as much as one event of the channel's budget
COALESCE_SECONDS = 1.0  # a 'subscribe' or 'history' this soon after the last joins the running delivery
MAX_HANDSHAKE_SOURCES = 4096  # source addresses whose handshake budgets are kept
ACQUIRE_SECONDS = 3.0  # how long a connect waits for another worker to hand the subscription's lease over
IDLE_SENDER_SECONDS = 60.0  # a sender with nothing in flight looks when woken (a record made, a notice), else this
NOTIFIED_POLL_SECONDS = 60.0  # the record maker's fallback poll while notices from other workers arrive
_INS = table_of(InstanceRow)


@dataclass(frozen=True)
class Terms:
    """What a flow delivers: one asset type, in one mode, inside one window."""

    asset_type: str
    mode: Mode
    valid_from: datetime
    valid_to: datetime

    @classmethod
    def of_view(cls, view: SubscriptionView) -> Terms:
        return cls(view.asset_type, view.mode, view.valid_from, view.valid_to)

    @classmethod
    def of_claims(cls, claims: GrantClaims) -> Terms:
        return cls(claims.asset_type, Mode(claims.mode), claims.valid_from, claims.valid_to)


@dataclass
class _InFlight:
    size: int
    received_at: float | None = None  # tier 1 came: the consumer holds this copy
    passed: bool = False  # a later seq was confirmed stored: the consumer refused or lost this copy


@dataclass
class _Attachment:
    """The consumer connected for a flow: its connection and the grant it was admitted with."""

    conn_id: str
    link: ConsumerLink
    claims: GrantClaims
    sealer: Sealer


@dataclass
class Download:
    """A one-time link's sealed content, to be streamed to the consumer."""

    chunks: AsyncIterator[bytes]
    size: int | None = None


class Flow:
    """One subscription's deliveries in this process."""

    def __init__(self, plane: ProviderPlane, subscription_id: str, terms: Terms, fence: Fence) -> None:
        self.plane, self.id, self.terms, self.fence = plane, subscription_id, terms, fence
        self._attached: _Attachment | None = None
        self.attached = None  # the channel shows as down from the flow's start until a consumer attaches
        self.history: tuple[datetime, datetime] | None = None
        self.position = 0
        self.inflight: dict[int, _InFlight] = {}
        self.wake = asyncio.Event()
        self.completing = False
        self.progress_at = 0.0  # when tier 2 last came
        self.task: asyncio.Task[None] | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._started: tuple[int, float, int] = (-1, float("-inf"), 0)  # the running request: after, when, pending

    @property
    def clock(self) -> Clock:
        return self.plane.clock

    @property
    def attached(self) -> _Attachment | None:
        """The consumer's connection, if it is connected: ``aadsys_connector_channel_up`` follows it."""
        return self._attached

    @attached.setter
    def attached(self, attachment: _Attachment | None) -> None:
        self._attached = attachment
        self.plane.metrics.channel(self.id, Role.PROVIDER, up=attachment is not None)

    # -- life ---------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            if self.terms.mode is Mode.REALTIME:
                tasks.create_task(guarded(self._fenced(self._make_realtime()), f"record maker of {self.id}"))
            self._ready.set()
            await run_forever()

    async def _fenced(self, work: Awaitable[None]) -> None:
        """Work under the lease: when a write finds the lease taken over, the flow ends here (another worker
        runs it now) and nothing more is written."""
        try:
            await work
        except LeaseLost:
            self.plane.fenced(self.id)

    async def attach(self, conn_id: str, link: ConsumerLink, claims: GrantClaims) -> None:
        """A consumer connected for this subscription; an earlier connection of it is dropped."""
        previous = self.attached
        sealer = previous.sealer if previous and previous.sealer.recipient == claims.consumer_encryption_key \
            else Sealer(self.plane.identity, claims.consumer_encryption_key)
        self.attached = _Attachment(conn_id, link, claims, sealer)
        await self._stop_sending()
        if previous is not None and previous.conn_id != conn_id:
            await previous.link.close()

    async def detach(self, conn_id: str) -> None:
        if self.attached is not None and self.attached.conn_id == conn_id:
            self.attached = None
            await self._stop_sending()

    def refreshed(self, claims: GrantClaims) -> None:
        if self.attached is not None:
            self.attached.claims = claims

    async def start(self, after_seq: int, history: tuple[datetime, datetime] | None) -> int:
        """Replay what the consumer lacks, then go on; returns how many deliveries are waiting now.

        A repeat of the running request (the same position and range, or any within a second) joins the running
        delivery instead of starting it over: restarting costs database writes and a fresh window, which a
        partner must not be able to make the provider pay for at will."""
        plane = self.plane
        running = self._sender is not None and not self._sender.done()
        if running and history == self.history and (
                after_seq == self._started[0] or self.clock.monotonic() - self._started[1] < COALESCE_SECONDS):
            return self._started[2]
        await self._stop_sending()  # a new request starts over from what the consumer says it has
        self.history = history
        if history is not None:
            await anyio.to_thread.run_sync(partial(plane.jobs.open, self.id, Role.PROVIDER, *history, fence=self.fence))
            await self._make_history()
        else:
            await anyio.to_thread.run_sync(self._make_realtime_now)
        pending = await anyio.to_thread.run_sync(partial(plane.outbox.reopen, self.id, after_seq, fence=self.fence))
        self.position, self.completing = 0, False
        self._started = (after_seq, self.clock.monotonic(), pending)
        await self._ready.wait()
        assert self._tasks is not None
        self._sender = self._tasks.create_task(self._fenced(self._send_guarded()))
        return pending

    async def _stop_sending(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not asyncio.current_task():
            await cancel_and_wait(sender)
        self.inflight = {}

    async def close(self, code: Code, reason: str) -> None:
        """Tell the consumer why, and disconnect it; nothing more is sent. A flooding consumer's connection is
        dropped: what it still sends is not read."""
        attached, self.attached = self.attached, None
        await self._stop_sending()
        if attached is not None:
            try:
                await attached.link.send("closing", Closing(subscription_id=self.id, code=code, reason=reason).wire())
            finally:
                await attached.link.close(drop=code is Code.FLOODED)

    # -- making deliveries -------------------------------------------------------------------------------------
    def _make_realtime_now(self) -> int:
        t = self.terms
        made = self.plane.outbox.make_realtime(self.id, t.asset_type, t.valid_from, t.valid_to, fence=self.fence)
        self.plane.metrics.delivered(self.id, Event.MADE, made)
        return made

    async def _make_realtime(self) -> None:
        """Make a delivery for every record of the type committed inside the window, as it commits, whether or
        not the consumer is connected (so its TTL runs from when the record was owed). A failure (the database
        away) is tried again a second later: the maker never stops while its flow runs."""
        events = self.plane.events
        while self.clock.now() < self.terms.valid_to:
            seen = events.own_commits[self.terms.asset_type]
            try:
                made = await anyio.to_thread.run_sync(self._make_realtime_now)
            except LeaseLost:
                raise
            except Exception as exc:
                log.warning("subscription %s: making deliveries failed (%s); trying again", self.id, exc)
                await self.clock.sleep(1.0)
                continue
            if made:
                self.wake.set()
                continue
            await events.wait_own(self.terms.asset_type, seen, self._poll_seconds())

    def _poll_seconds(self) -> float:
        """How long the maker waits for a commit it is not told of: commits in this process wake it, and those of
        the other workers too while their notices arrive (PostgreSQL); otherwise it polls every ``poll_seconds``
        (SQLite, where a command in another process may write)."""
        return NOTIFIED_POLL_SECONDS if listening(self.plane.events.notifications) else self.plane.settings.poll_seconds

    async def _make_history(self) -> None:
        assert self.history is not None
        outbox = self.plane.outbox
        while made := await anyio.to_thread.run_sync(partial(outbox.make_history, self.id, self.terms.asset_type,
                                                             *self.history, fence=self.fence)):
            self.plane.metrics.delivered(self.id, Event.MADE, made)
        figures = await anyio.to_thread.run_sync(outbox.figures, self.id)
        await anyio.to_thread.run_sync(partial(self.plane.jobs.set_total, self.id, figures.made, fence=self.fence))

    # -- sending -----------------------------------------------------------------------------------------------
    async def _send_guarded(self) -> None:
        """A sender that fails drops its connection, so that the consumer reconnects and replays."""
        try:
            await self._send_loop()
        except LeaseLost:
            raise
        except Fallen as ended:
            self.plane.fallen(self.id, ended.code, ended.reason)
        except Exception:
            log.exception("subscription %s: sending failed; closing the channel so that the consumer replays",
                          self.id)
            attached, self.attached = self.attached, None
            if attached is not None:
                await attached.link.close()

    async def _send_loop(self) -> None:
        settings = self.plane.settings
        while self.attached is not None:
            self.wake.clear()
            await self._resend_overdue()
            room = settings.window - len(self.inflight)
            bytes_room = settings.window_bytes - sum(f.size for f in self.inflight.values())
            if room > 0 and bytes_room > 0:
                sealed = await anyio.to_thread.run_sync(self._claim_sealed, min(room, SEAL_BATCH), bytes_room)
                if sealed:
                    await self._send(sealed)
                    continue
                if self.history is not None and not self.inflight:
                    await self._complete_history()
            timeout = settings.resend_after_seconds if self.inflight else IDLE_SENDER_SECONDS
            due = [d for f in self.inflight.values() if (d := self._resend_due(f)) is not None]
            if due:
                timeout = max(0.0, min(due) - self.clock.monotonic())
            await self.clock.wait(self.wake, timeout)

    async def _resend_overdue(self) -> None:
        """Send again what the consumer received (tier 1) but has not confirmed stored (tier 2) in time.

        A copy without tier 1 is still on its way: sending it again on the same connection would only queue
        another copy behind it (a hung consumer would pile up copies here). If the connection is dead, the
        transport's heartbeat ends it, and the consumer's next ``subscribe`` replays everything unconfirmed.
        While the consumer keeps confirming, a received copy is only waiting its turn (it stores in seq
        order), unless a later seq was confirmed before it.
        """
        now = self.clock.monotonic()
        overdue = sorted(seq for seq, f in self.inflight.items() if (due := self._resend_due(f)) is not None
                         and due <= now)
        if overdue:
            log.info("subscription %s: sending %d unconfirmed deliveries again", self.id, len(overdue))
            await self.resend(overdue)

    def _resend_due(self, flight: _InFlight) -> float | None:
        if flight.received_at is None:
            return None
        since = flight.received_at if flight.passed else max(flight.received_at, self.progress_at)
        return since + self.plane.settings.resend_after_seconds

    async def resend(self, seqs: Sequence[int]) -> None:
        attached = self.attached
        if attached is None:
            return
        try:
            again = await anyio.to_thread.run_sync(self._again_sealed, attached, list(seqs))
        except Fallen as ended:
            self.plane.fallen(self.id, ended.code, ended.reason)
            return
        found = {o.seq for o, _ in again}
        for seq in seqs:
            if seq not in found:
                self.inflight.pop(seq, None)  # stored or expired meanwhile
        if again:
            await self._send(again)

    # claiming and sealing run in one worker thread: each hop to a thread costs more than sealing a record
    def _claim_sealed(self, limit: int, max_bytes: int) -> list[tuple[Outgoing, dict[str, Any]]]:
        """The next deliveries that fit the window (the first always goes, however large)."""
        attached = self.attached
        if attached is None:
            return []
        claimed = self.plane.outbox.claim(self.id, self.position, limit, max_bytes, fence=self.fence)
        self.plane.metrics.delivered(self.id, Event.SENT, len(claimed))
        return self._seal_all(attached, claimed)

    def _again_sealed(self, attached: _Attachment, seqs: Sequence[int]) -> list[tuple[Outgoing, dict[str, Any]]]:
        again = self.plane.outbox.again(self.id, seqs, fence=self.fence)
        self.plane.metrics.delivered(self.id, Event.RESENT, len(again))
        return self._seal_all(attached, again)

    async def _send(self, sealed: Sequence[tuple[Outgoing, dict[str, Any]]]) -> None:
        attached = self.attached
        if attached is None:
            return
        for outgoing, message in sealed:
            flight = self.inflight[outgoing.seq] = _InFlight(len(outgoing.aas_json))
            self.position = max(self.position, outgoing.seq)
            await attached.link.send("instance", message, functools.partial(self._received, outgoing.seq, flight))
            self.plane.metrics.payload(Direction.SENT, len(outgoing.aas_json))

    def _received(self, seq: int, flight: _InFlight, *answer: Any) -> None:
        """Tier 1 for one copy; a copy of an earlier connection or an earlier send no longer counts."""
        if self.inflight.get(seq) is flight:
            flight.received_at = self.clock.monotonic()

    def _seal_all(self, attached: _Attachment, batch: Sequence[Outgoing]) -> list[tuple[Outgoing, dict[str, Any]]]:
        """Seal a batch (CPU and link rows: runs in a worker thread)."""
        return [(outgoing, self._seal(attached, outgoing)) for outgoing in batch]

    def _seal(self, attached: _Attachment, o: Outgoing) -> dict[str, Any]:
        plane, claims = self.plane, attached.claims
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
        sealed = attached.sealer.seal(fields, o.aas_json)
        inline = len(sealed.ciphertext) <= plane.settings.inline_limit_bytes
        if not inline:
            new_links.append(NewLink("payload", o.seq, "", "", instance_id=o.instance_id, header=sealed.header))
        tokens = plane.links.issue(self.id, claims.consumer_signing_key, claims.consumer_encryption_key,
                                   new_links, fence=self.fence) if new_links else []
        file_refs = [FileRef(sha256=f["sha256"], token=t) for f, t in zip(file_fields, tokens, strict=False)]
        message = InstanceMessage(subscription_id=self.id, seq=o.seq, header=sealed.header,
                                  signature=sealed.signature, files=file_refs,
                                  ciphertext=sealed.ciphertext if inline else None,
                                  link=None if inline else LinkRef(token=tokens[-1], size=len(sealed.ciphertext)))
        return message.wire()

    # -- tier 2 --------------------------------------------------------------------------------------------------
    async def stored(self, seqs: Sequence[int]) -> None:
        """Tier 2: the consumer committed these."""
        try:
            await anyio.to_thread.run_sync(self._mark_stored, list(seqs))
        except LeaseLost:
            self.plane.fenced(self.id)
            return
        for seq in seqs:
            self.inflight.pop(seq, None)
        if seqs:
            self.progress_at, top = self.clock.monotonic(), max(seqs)
            for seq, flight in self.inflight.items():
                flight.passed = flight.passed or seq < top
        self.wake.set()

    def _mark_stored(self, seqs: Sequence[int]) -> None:
        """Deliveries stored and their links done, in one transaction (blocking: runs in a worker thread)."""
        plane = self.plane
        with plane.outbox.db.write_session() as session:  # outbox and links live in the one database
            self.fence.check(session)
            stored = plane.outbox.confirm(self.id, seqs, session)
            plane.links.delivered(self.id, seqs, session)
            session.commit()
        plane.metrics.delivered(self.id, Event.STORED, stored)

    async def _complete_history(self) -> None:
        """All of the range is confirmed stored: tell the consumer the count and digest, keep ours to report."""
        attached = self.attached
        if self.completing or attached is None:  # the range is all made: ``start`` made it before sending
            return
        figures = await anyio.to_thread.run_sync(self.plane.outbox.figures, self.id)
        if figures.pending or figures.sent - figures.stored - figures.expired:
            return
        self.completing = True
        count, digest = await anyio.to_thread.run_sync(self.plane.outbox.digest, self.id)
        await anyio.to_thread.run_sync(partial(self.plane.jobs.move, self.id, HistoryState.FINISHED, count=count,
                                               digest=digest, fence=self.fence))
        await attached.link.send("history_complete", HistoryComplete(subscription_id=self.id, count=count,
                                                                     digest=digest).wire())
        log.info("subscription %s: historical transfer complete, %d instances", self.id, count)


@dataclass
class _Connection:
    subscription_id: str
    link: ConsumerLink
    peer: str


@dataclass
class ProviderPlane:
    """The provider's data plane: admission through ``Admissions``, and one ``Flow`` per subscription whose lease
    this worker holds (``connector._leases``): a live real-time subscription's, so that its deliveries are made
    as records commit, and any whose consumer connected here."""

    settings: ConnectorSettings
    identity: Identity
    admissions: Admissions
    instances: InstanceService
    files: FileStore
    outbox: Outbox
    links: Links
    jobs: HistoryJobs
    refusals: Refusals
    clock: Clock
    keeper: LeaseKeeper
    metrics: ConnectorMetrics
    flows: dict[str, Flow] = field(default_factory=dict)
    connections: dict[str, _Connection] = field(default_factory=dict)
    _live: dict[str, SubscriptionView] = field(default_factory=dict)
    _group: asyncio.TaskGroup | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _sealers: dict[str, Sealer] = field(default_factory=dict)
    _budgets: dict[str, Budget] = field(default_factory=dict)  # per admitted connection
    _handshakes: OrderedDict[str, Budget] = field(default_factory=OrderedDict)  # per source address
    _cooling: dict[str, float] = field(default_factory=dict)  # subscription -> when its flooded channel may come back

    def __post_init__(self) -> None:
        self.keeper.serve(ROLE, taken=self._taken, lost=self._lost)

    @property
    def events(self) -> Any:
        return self.instances.events

    async def run(self) -> None:
        """Owns every flow's task until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            self._ready.set()
            await run_forever()

    async def refuse(self, code: Code, reason: str, *, subscription_id: str | None = None,
                     peer: str | None = None, proven: bool = True) -> None:
        await anyio.to_thread.run_sync(partial(self.refusals.record, code, reason, side=Role.PROVIDER,
                                               subscription_id=subscription_id, peer=peer, proven=proven))

    # -- budgets: no partner may stall the provider -------------------------------------------------------------
    async def _throttle_handshake(self, peer: str) -> None:
        """``GrantRefused`` (counted, not written one by one) if ``peer`` asks for handshakes faster than its
        budget: admission costs signature checks and database reads, so one source may not make it the work."""
        budget = self._handshakes.pop(peer, None) or Budget(self.settings.handshakes_per_second,
                                                            self.settings.handshakes_burst, self.clock.monotonic)
        self._handshakes[peer] = budget  # newest last; the oldest source is forgotten first
        while len(self._handshakes) > MAX_HANDSHAKE_SOURCES:
            self._handshakes.popitem(last=False)
        if not budget.take():
            reason = "too many handshakes from this address; wait a few seconds, then try again"
            await self.refuse(Code.SLOW_DOWN, reason, peer=peer, proven=False)
            raise GrantRefused(Code.SLOW_DOWN, reason)

    async def _over_budget(self, conn_id: str, *, free: bool = False, cost: float = 1.0) -> dict[str, Any] | None:
        """None if the connection may have this event; else the refusal to answer with, the channel being closed
        (once) and counted. ``free`` events (a 'stored' notice that confirms deliveries) cost nothing; an event that
        makes the provider work per item (a 'resend' of many seqs) costs more than one."""
        budget = self._budgets.get(conn_id)
        if budget is None or free or budget.take(cost):
            return None
        answer = refused(Code.FLOODED, f"more than {self.settings.events_per_second:g} events a second on this "
                                       f"channel; it is closed: connect again in {self._cooling_seconds:g} s and send "
                                       "less")
        if budget.tokens >= 0:  # first time over: close the channel, count it once
            budget.tokens = float("-inf")  # spent for good: refused, and not counted again, until the close lands
            connection = self.connections.get(conn_id)
            if connection is not None:
                self._cool(connection.subscription_id)
                await self.refuse(Code.FLOODED, answer["reason"], subscription_id=connection.subscription_id,
                                  peer=connection.peer)
                if self._group is not None:
                    self._group.create_task(guarded(self._close_flooded(conn_id), f"closing flooder {conn_id}"))
        return answer

    def _cool(self, subscription_id: str) -> None:
        """A channel closed for flooding is admitted again once its budget would have filled again: coming straight
        back, it would make the provider replay its window of unconfirmed deliveries (sealed again) each time."""
        now = self.clock.monotonic()
        self._cooling = {s: until for s, until in self._cooling.items() if until > now}
        self._cooling[subscription_id] = now + self._cooling_seconds

    @property
    def _cooling_seconds(self) -> float:
        return self.settings.events_burst / self.settings.events_per_second

    async def _close_flooded(self, conn_id: str) -> None:
        connection = self.connections.get(conn_id)
        if connection is None:
            return
        flow = self.flows.get(connection.subscription_id)
        if flow is not None and flow.attached is not None and flow.attached.conn_id == conn_id:
            await flow.close(Code.FLOODED, "this channel sent more events than its budget allows")
        else:
            await connection.link.close(drop=True)

    # -- flows and their leases ----------------------------------------------------------------------------------
    def _wanted(self) -> set[str]:
        """What this worker would run: live real-time subscriptions (their records are owed as they commit), and
        any subscription whose consumer is connected here."""
        return set(self._live) | {s for s, flow in self.flows.items() if flow.attached is not None}

    async def _flow(self, subscription_id: str, terms: Terms, fence: Fence) -> Flow:
        flow = self.flows.get(subscription_id)
        if flow is None:
            await self._ready.wait()
            assert self._group is not None
            flow = self.flows[subscription_id] = Flow(self, subscription_id, terms, fence)
            flow.task = self._group.create_task(guarded(flow.run(), f"flow of {subscription_id}"))
        flow.fence = fence
        return flow

    async def _taken(self, subscription_id: str, fence: Fence) -> None:
        view = self._live.get(subscription_id)
        if view is not None:
            await self._flow(subscription_id, Terms.of_view(view), fence)

    async def _lost(self, subscription_id: str) -> None:
        await self._end_flow(subscription_id, Code.MOVED, "the subscription's channel moves to another worker of "
                                                          "the provider; connect again")

    def fenced(self, subscription_id: str) -> None:
        """A write of this flow found its lease taken over: end the flow, from a task of its own."""
        if self._group is not None:
            self._group.create_task(guarded(self._lease_taken_over(subscription_id), f"fence of {subscription_id}"))

    def fallen(self, subscription_id: str, code: Code, reason: str) -> None:
        """A send found the subscription ended in the ledger (before the control plane said so): end its flow,
        from a task of its own (the sender that found it is one of the flow's tasks)."""
        if self._group is not None:
            self._group.create_task(guarded(self.terminate(subscription_id, code, reason),
                                            f"end of {subscription_id}"))

    async def _lease_taken_over(self, subscription_id: str) -> None:
        log.warning("subscription %s: another worker took the lease over; this one stops its flow", subscription_id)
        self.keeper.held.pop((subscription_id, ROLE), None)
        await self._lost(subscription_id)

    async def _end_flow(self, subscription_id: str, code: Code, reason: str) -> None:
        flow = self.flows.pop(subscription_id, None)
        if flow is not None:
            try:
                await flow.close(code, reason)
            finally:
                await cancel_and_wait(flow.task)

    async def reconcile(self, live: Sequence[SubscriptionView]) -> None:
        """Run flows for every live real-time subscription we provide (where this worker holds their lease)."""
        self._live = {v.id: v for v in live if v.role is Role.PROVIDER and v.mode is Mode.REALTIME}
        for subscription_id, view in self._live.items():
            if subscription_id not in self.flows and (fence := self.keeper.fence(subscription_id, ROLE)):
                await self._flow(subscription_id, Terms.of_view(view), fence)
        self.keeper.want(ROLE, self._wanted())

    async def terminate(self, subscription_id: str, code: Code, reason: str) -> None:
        self._live.pop(subscription_id, None)
        await self._end_flow(subscription_id, code, reason)
        await self.keeper.release(subscription_id, ROLE)
        self.keeper.want(ROLE, self._wanted())

    async def close_due(self) -> None:
        """Close channels whose real-time window ended or whose grant expired without a refresh."""
        now = self.clock.now()
        for flow in list(self.flows.values()):
            if flow.terms.mode is Mode.REALTIME and now >= flow.terms.valid_to:
                await self.terminate(flow.id, Code.WINDOW_ENDED, "the subscription's window has ended")
            elif flow.attached is not None and now >= flow.attached.claims.expires_at:
                await flow.close(Code.GRANT_EXPIRED, "the grant expired and no fresh one was presented")

    async def expire_due(self) -> dict[str, int]:
        """Deliveries past their TTL become ``expired``, counted and logged; returns how many per subscription."""
        expired = await anyio.to_thread.run_sync(self.outbox.expire_due)
        for subscription_id, count in expired.items():
            log.warning("subscription %s: %d deliveries expired unstored", subscription_id, count)
            self.metrics.delivered(subscription_id, Event.EXPIRED, count)
        return expired

    async def stop_all(self, code: Code, reason: str) -> None:
        for subscription_id in list(self.flows):
            await self._end_flow(subscription_id, code, reason)

    def channels(self) -> dict[str, dict[str, Any]]:
        return {sid: {"connected": flow.attached is not None, "inFlight": len(flow.inflight),
                      "leaseEpoch": flow.fence.epoch} for sid, flow in self.flows.items()}

    # -- admission -----------------------------------------------------------------------------------------------
    async def challenge(self, grant: str, peer: str) -> str:
        """A nonce for a consumer presenting ``grant``; ``GrantRefused`` (recorded) otherwise."""
        await self._throttle_handshake(peer)
        try:
            return await self.admissions.challenge(grant)
        except GrantRefused as exc:
            await self.refuse(exc.code, exc.reason, subscription_id=exc.subscription_id, peer=peer, proven=False)
            raise

    async def connect(self, conn_id: str, link: ConsumerLink, auth: Any, peer: str) -> GrantClaims:
        """Admit a connection; ``GrantRefused`` (recorded) if the handshake fails."""
        await self._throttle_handshake(peer)
        try:
            presented = ChannelAuth.model_validate(auth if isinstance(auth, dict) else {})
        except ValidationError:
            await self.refuse(Code.MALFORMED_AUTH, "connect auth is not {grant, nonce, proof}", peer=peer,
                              proven=False)
            raise GrantRefused(Code.MALFORMED_AUTH, "send {grant, nonce, proof} as the connect auth") from None
        try:
            claims = await self.admissions.admit(presented.grant, presented.nonce, presented.proof)
        except GrantRefused as exc:
            await self.refuse(exc.code, exc.reason, subscription_id=exc.subscription_id, peer=peer, proven=False)
            raise
        now, until = self.clock.monotonic(), self._cooling.get(claims.subscription_id, float("-inf"))
        if now < until:
            reason = f"this subscription's channel was closed for flooding; connect again in {math.ceil(until - now)} s"
            await self.refuse(Code.SLOW_DOWN, reason, subscription_id=claims.subscription_id, peer=peer, proven=False)
            raise GrantRefused(Code.SLOW_DOWN, reason, claims.subscription_id)
        fence = await self.keeper.acquire(claims.subscription_id, ROLE, wait=ACQUIRE_SECONDS)
        if fence is None:
            raise GrantRefused(Code.BUSY, "another worker of the provider serves this subscription's channel and "
                                          "did not hand it over in time; connect again", claims.subscription_id)
        self.connections[conn_id] = _Connection(claims.subscription_id, link, peer)
        self._budgets[conn_id] = Budget(self.settings.events_per_second, self.settings.events_burst,
                                        self.clock.monotonic)
        flow = await self._flow(claims.subscription_id, Terms.of_claims(claims), fence)
        await flow.attach(conn_id, link, claims)
        self.keeper.want(ROLE, self._wanted())
        log.info("channel open: subscription %s (%s, %s) from %s", claims.subscription_id, claims.mode,
                 claims.asset_type, peer)
        return claims

    async def disconnected(self, conn_id: str) -> None:
        connection = self.connections.pop(conn_id, None)
        self._budgets.pop(conn_id, None)
        if connection is not None and (flow := self.flows.get(connection.subscription_id)) is not None:
            await flow.detach(conn_id)
            self.keeper.want(ROLE, self._wanted())

    def _attached_flow(self, conn_id: str, subscription_id: str) -> Flow | None:
        """The flow this connection was admitted for, if it asks about that one and is still the attached one."""
        connection = self.connections.get(conn_id)
        if connection is None or connection.subscription_id != subscription_id:
            return None
        flow = self.flows.get(subscription_id)
        return flow if flow is not None and flow.attached is not None and flow.attached.conn_id == conn_id else None

    # -- events (each returns the event's answer) ----------------------------------------------------------------
    async def _malformed(self, conn_id: str, event: str, exc: ValidationError | None = None) -> dict[str, Any]:
        """A malformed event: answered with what is wrong, counted once, never a traceback."""
        reason = f"'{event}' is not what the protocol says" + (f": {_errors(exc)}" if exc is not None else "")
        connection = self.connections.get(conn_id)
        await self.refuse(Code.MALFORMED, reason, subscription_id=connection.subscription_id if connection else None,
                          peer=connection.peer if connection else None, proven=connection is not None)
        return refused(Code.MALFORMED, reason)

    async def on_subscribe(self, conn_id: str, data: Any) -> dict[str, Any]:
        if (over := await self._over_budget(conn_id)) is not None:
            return over
        try:
            request = SubscribeRequest.model_validate(data)
        except ValidationError as exc:
            return await self._malformed(conn_id, "subscribe", exc)
        flow = self._attached_flow(conn_id, request.subscription_id)
        if flow is None:
            return refused(Code.WRONG_SUBSCRIPTION, "this channel was opened for another subscription")
        if flow.terms.mode is not Mode.REALTIME:
            return refused(Code.WRONG_MODE, "this subscription is historical: send 'history'")
        pending = await flow.start(request.after_seq, None)
        return {**OK, "total": pending}

    async def on_history(self, conn_id: str, data: Any) -> dict[str, Any]:
        if (over := await self._over_budget(conn_id)) is not None:
            return over
        try:
            request = HistoryRequest.model_validate(data)
        except ValidationError as exc:
            return await self._malformed(conn_id, "history", exc)
        flow = self._attached_flow(conn_id, request.subscription_id)
        if flow is None:
            return refused(Code.WRONG_SUBSCRIPTION, "this channel was opened for another subscription")
        terms = flow.terms
        if terms.mode is not Mode.HISTORICAL:
            return refused(Code.WRONG_MODE, "this subscription is real-time: send 'subscribe'")
        if not terms.valid_from <= request.from_ <= request.to <= terms.valid_to:
            reason = (f"the range must lie inside the subscription's window {iso(terms.valid_from)} to "
                      f"{iso(terms.valid_to)}, with from <= to")
            await self.refuse(Code.OUTSIDE_WINDOW, reason, subscription_id=flow.id)
            return refused(Code.OUTSIDE_WINDOW, reason)
        await flow.start(request.after_seq, (request.from_, request.to))
        job = await anyio.to_thread.run_sync(self.jobs.get, flow.id)
        return {**OK, "total": job.total if job else None}

    async def on_stored(self, conn_id: str, data: Any) -> None:
        try:
            notice = StoredNotice.model_validate(data)
        except ValidationError as exc:
            if await self._over_budget(conn_id) is None:
                await self._malformed(conn_id, "stored", exc)
            return
        flow = self._attached_flow(conn_id, notice.subscription_id)
        confirms = flow is not None and any(seq in flow.inflight for seq in notice.seqs)
        if await self._over_budget(conn_id, free=confirms) is not None:
            return
        if flow is not None and notice.seqs:
            await flow.stored(notice.seqs)

    async def on_resend(self, conn_id: str, data: Any) -> None:
        try:
            request = ResendRequest.model_validate(data)
        except ValidationError as exc:
            if await self._over_budget(conn_id) is None:
                await self._malformed(conn_id, "resend", exc)
            return
        flow = self._attached_flow(conn_id, request.subscription_id)
        wanted = [seq for seq in request.seqs if seq in flow.inflight] if flow is not None else []  # on their way
        # Each copy is sealed again: a resend costs one event per RESEND_PER_EVENT seqs, so that asking for the
        # whole window over and over cannot make the provider reseal it many times a second.
        cost = min(1.0 + len(wanted) / RESEND_PER_EVENT, float(self.settings.events_burst))
        if await self._over_budget(conn_id, cost=cost) is not None:
            return
        if flow is not None:
            log.info("subscription %s: consumer asks again for %s: %s", request.subscription_id, wanted,
                     request.reason)
            if wanted:
                await flow.resend(wanted)

    async def on_grant(self, conn_id: str, data: Any) -> dict[str, Any]:
        """A fresh grant for the open channel (grant refresh)."""
        if (over := await self._over_budget(conn_id)) is not None:
            return over
        try:
            fresh = GrantRefresh.model_validate(data)
        except ValidationError as exc:
            return await self._malformed(conn_id, "grant", exc)
        connection = self.connections.get(conn_id)
        flow = self._attached_flow(conn_id, connection.subscription_id) if connection else None
        if flow is None or flow.attached is None:
            return refused(Code.WRONG_SUBSCRIPTION, "this connection holds no channel")
        try:
            claims = await self.admissions.refresh(fresh.grant, flow.attached.claims)
        except GrantRefused as exc:
            return refused(exc.code, exc.reason)
        flow.refreshed(claims)
        return OK

    # -- one-time links ------------------------------------------------------------------------------------------
    async def download(self, token: str, proof: str | None) -> Download:
        """A link's content sealed for its consumer; ``LinkRefused`` (a refused proof or a gone link recorded)."""
        try:
            link = await anyio.to_thread.run_sync(self.links.consume, token, proof)
        except LinkRefused as exc:
            if exc.status in (403, 410):  # a 410 passed the consumer's proof; a 403 proved nothing
                await self.refuse(exc.code, exc.reason, proven=exc.status == 410)
            raise
        sealer = self._sealer(link.consumer_encryption_key)
        if link.kind == "payload":
            assert link.header is not None and link.instance_id is not None
            plaintext = await anyio.to_thread.run_sync(self._instance_bytes, link.instance_id)
            body = await anyio.to_thread.run_sync(sealer.reseal, link.header, plaintext)
            return Download(_once(body), len(body))
        assert link.file_sha256 is not None
        try:
            stored = await anyio.to_thread.run_sync(self.files.get, link.file_sha256)
        except FileNotFound:
            raise LinkRefused(404, "the linked file is no longer stored here") from None
        chunks = sealer.encrypt_file(_read_chunks(stored.path), FileSeal(link.salt, link.nonce),
                                     file_binding(link.subscription_id, link.file_sha256))
        return Download(_iterate(chunks))

    def _sealer(self, recipient: str) -> Sealer:
        if recipient not in self._sealers:
            self._sealers[recipient] = Sealer(self.identity, recipient)
        return self._sealers[recipient]

    def _instance_bytes(self, instance_id: int) -> bytes:
        with self.outbox.db.session() as session:
            blob = session.execute(select(_INS.c.aas_json).where(_INS.c.id == instance_id)).scalar_one_or_none()
        if blob is None:
            raise LinkRefused(404, "the linked record is no longer stored here")
        return bytes(blob)


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'the payload'}: {e['msg']}" for e in exc.errors()[:3])


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _iterate(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """File content is read and encrypted in a worker thread, one chunk at a time."""
    while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
        yield chunk


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
