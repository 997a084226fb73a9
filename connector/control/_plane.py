"""The control plane: everything the connector settles with the portal, in one loop (every ``poll_seconds``).

Each round: an access token (refreshed before it expires); our organisation's id and the portal's issuer
and JWKS (cached on disk); revocations made here (``aadsys connector revoke``) that the portal has not accepted
yet; the connector's endpoint and public keys, registered again when they differ from what the portal shows;
our asset types, published when missing or different (publishing twice makes nothing new); our subscriptions,
with the partner's endpoint and keys and, as consumer, a grant fetched before the one we hold expires; the
revocation feed; then the data plane is told which subscriptions are live, and progress and finished
historical transfers are reported (the data plane's ``ProgressReports``). Any step that cannot reach the portal
is retried next round; the data plane works on from the database meanwhile.

Revocations as they happen: beside the rounds, ``follow_revocations`` follows the portal's revocation stream
(Server-Sent Events) while this worker is in charge, resuming after the last seq taken; each item is taken
exactly as the feed's items are (``take_revocation``), and the feed in each round stays as the fallback.
``end_ended`` ends, in every worker, the channels of subscriptions the ledger holds ended since the last round
(revoked here by the command, or from the portal by the worker in charge).

Its ``admission`` (``_admission.Admission``) answers the data plane's questions about a presented grant
(DESIGN §5.1).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import anyio

from aas_models import Owner, base_iri_of_type_shell
from connector._clock import Clock
from connector._identity import Identity
from connector._metrics import ConnectorMetrics
from connector._revoking import tell_portal
from connector._settings import ConnectorSettings
from connector._tasks import cancel_and_wait
from connector.codes import Code
from connector.control._admission import Admission
from connector.control._ledger import Ledger, view_of
from connector.control._portal import PortalClient, unverified_claims
from connector.control._publishing import publish_asset_types
from connector.control._trust import TrustStore
from connector.errors import PortalError, PortalRefused, PortalUnavailable
from connector.spi import (
    FINAL_STATES,
    GRANT_STATES,
    DataFlows,
    Mode,
    ProgressReports,
    Role,
    SubscriptionState,
    SubscriptionView,
)
from connector.tables import SubscriptionRow

log = logging.getLogger("connector.control")
TRUST_REFRESH_SECONDS = 60.0
PEER_REFRESH_SECONDS = 60.0
IN_CHARGE_CHECK_SECONDS = 1.0  # how soon a worker that is no longer in charge stops following the stream
STEADY_STREAM_SECONDS = 10.0  # a stream that lasted this long ended normally: reconnect at once
IDLE_BACKOFF = 4  # quiet rounds come at most this many poll_seconds apart
REPORTED_STATES = frozenset({SubscriptionState.APPROVED, SubscriptionState.ACTIVE, SubscriptionState.EXPIRED,
                             SubscriptionState.REVOKED, SubscriptionState.CANCELLED})


@dataclass
class PortalStatus:
    reachable: bool | None = None
    last_error: str | None = None
    following: bool = False  # the revocation stream is open


class ControlPlane:
    def __init__(self, *, settings: ConnectorSettings, identity: Identity, portal: PortalClient, trust: TrustStore,
                 ledger: Ledger, progress: ProgressReports, owner: Owner, public_url: str,
                 asset_types: Callable[[], frozenset[str]], clock: Clock, metrics: ConnectorMetrics,
                 in_charge: Callable[[], bool] = lambda: True) -> None:
        self.settings, self.identity, self.portal, self.clock, self.metrics = settings, identity, portal, clock, metrics
        self.trust, self.ledger, self.progress = trust, ledger, progress
        self.owner, self.public_url, self.asset_types = owner, public_url, asset_types
        self.in_charge = in_charge  # this worker holds the control lease: it, and only it, talks to the portal
        self.flows: list[DataFlows] = []
        self._live_ids: set[str] = set()
        self._ended: set[str] = set()  # ended while this process ran: final, never live again
        self.round_at: float | None = None  # monotonic time the last round ended (readiness)
        self.status = PortalStatus()
        self.admission = Admission(trust=trust, ledger=ledger, portal=portal, held_types=asset_types,
                                   refresh_trust=self._refresh_own_trust, clock=clock,
                                   leeway_seconds=settings.clock_skew_seconds)
        self._registered = False
        self._published: frozenset[str] | None = None
        self._trust_at: float | None = None
        self._peers_at: dict[str, float] = {}
        self._seen: tuple[object, ...] | None = None  # what the last round found (ledger rows' versions, live ids)
        self._next_due = float("inf")  # seconds from the last round until one must act (a window ends …)

    def drive(self, *flows: DataFlows) -> None:
        """The data planes whose flows this plane starts, updates and ends."""
        self.flows.extend(flows)

    # -- the loop ---------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Rounds every ``poll_seconds`` while anything changes; after a quiet round the pause doubles, up to
        ``IDLE_BACKOFF`` times that (as EDC's state machines back off when idle), and never past the next moment a
        round must act on (a real-time window's end, a grant to refresh). Revocations from the portal come by its
        stream meanwhile, and the data plane works on from the database."""
        pause = self.settings.poll_seconds
        while True:
            pause = next_pause(pause, await self.round(), self.settings.poll_seconds)
            await self.clock.sleep(min(pause, self._next_due))

    async def round(self) -> bool:
        """One round; never raises for the portal's sake. Every worker runs the flows the ledger calls for; the
        worker in charge (the control lease) also settles with the portal and reports. True if it was quiet: the
        portal answered, and the ledger, the live subscriptions and the figures reported are as the round before
        found them."""
        in_charge = self.in_charge()
        if in_charge:
            await self._settle()
        rows = await anyio.to_thread.run_sync(self.ledger.rows)  # the round's one read of the ledger
        now = self.clock.now()
        live = [view for row in rows if (view := view_of(row)).live_at(now)
                and view.id not in self._ended]  # ended while the ledger was read: stays ended
        await self._end_what_ended({view.id for view in live})
        for flows in self.flows:
            await flows.reconcile(live)
        reported = False
        if in_charge:
            try:
                reported = await self._report(rows)
            except PortalError as exc:
                self.status.last_error = str(exc)
        self.round_at = self.clock.monotonic()
        self._next_due = _seconds_until_due(rows, now)
        seen = (tuple((row.id, row.updated_at) for row in rows), frozenset(view.id for view in live))
        quiet = seen == self._seen and not reported and self.status.last_error is None
        self._seen = seen
        return quiet

    def making_rounds(self) -> bool:
        """Readiness: a round ended lately (the loop did not stop after an error)."""
        return self.round_at is not None and \
            self.clock.monotonic() - self.round_at < 3 * self.settings.poll_seconds + 30

    async def _settle(self) -> None:
        try:
            await self._settle_with_portal()
            if self.status.reachable is False:
                log.warning("the portal answers again")
            self.status.reachable, self.status.last_error = True, None
            self.metrics.portal(reachable=True)
        except PortalError as exc:
            reachable = not isinstance(exc, PortalUnavailable)
            if reachable or self.status.reachable is not False:  # an outage is logged once, when it starts
                log.warning("%s%s", exc, "" if reachable else "; working on from cached grants and keys")
            self.status.reachable, self.status.last_error = reachable, str(exc)
            self.metrics.portal(reachable=reachable)
        except Exception:  # a bug must not stop the connector's other work
            log.exception("control plane round failed")

    async def _end_what_ended(self, live_ids: set[str]) -> None:
        """Subscriptions live at the last round and ended since (whichever worker learnt it from the portal): their
        channels end with the subscription's state."""
        ended, self._live_ids = self._live_ids - live_ids, live_ids
        await self._end_as_recorded(ended)

    async def end_ended(self) -> None:
        """Between rounds, in every worker: the channels of live subscriptions the ledger now holds ended (revoked
        by ``aadsys connector revoke`` in another process, or taken from the portal by the worker in charge) end
        now. One query by primary key, and none while nothing is live."""
        if not self._live_ids:
            return
        ended = await anyio.to_thread.run_sync(self.ledger.ended_among, set(self._live_ids))
        await self._end_as_recorded(ended)

    async def _end_as_recorded(self, subscription_ids: Iterable[str]) -> None:
        for subscription_id in sorted(subscription_ids):
            row = await anyio.to_thread.run_sync(self.ledger.get, subscription_id)
            state = SubscriptionState(row.state) if row is not None else None
            code = Code(state) if state in FINAL_STATES else Code.WINDOW_ENDED
            reason = (row.reason if row is not None and row.reason else None) or f"the subscription is {code}"
            await self._terminate(subscription_id, code, reason)

    async def _terminate(self, subscription_id: str, code: Code, reason: str) -> None:
        """The one way a subscription's channels end here: every data plane ends them, and this plane does not
        start them again (a final state is final)."""
        if code is not Code.WINDOW_ENDED:
            self._ended.add(subscription_id)
        self._live_ids.discard(subscription_id)
        for flows in self.flows:
            await flows.terminate(subscription_id, code, reason)

    async def _settle_with_portal(self) -> None:
        org_id = await self.portal.own_org_id()
        await self._tell_revocations()
        if self._trust_at is None or self.clock.monotonic() - self._trust_at > TRUST_REFRESH_SECONDS \
                or self.trust.trust.org_id != org_id:
            await self._refresh_trust(org_id)
        if not self._registered:
            await self._register(org_id)
        wanted = frozenset(self.settings.publish if self.settings.publish is not None else self.asset_types())
        if self._published != wanted:
            await self.publish(org_id, wanted)
        await self._follow_subscriptions(org_id)
        await self._follow_revocations()

    async def _refresh_trust(self, org_id: str | None = None) -> None:
        issuer, jwks = await self.portal.issuer(), await self.portal.jwks()
        await anyio.to_thread.run_sync(partial(self.trust.update, issuer=issuer, jwks=jwks,
                                               org_id=org_id or self.trust.trust.org_id))
        self._trust_at = self.clock.monotonic()

    async def _refresh_own_trust(self) -> None:
        await self._refresh_trust(await self.portal.own_org_id())

    async def _register(self, org_id: str) -> None:
        """PUT /api/v1/connector when the portal shows another endpoint or other keys than ours."""
        shown = await self.portal.organisation(org_id)
        ours = {"endpointUrl": self.public_url, "signingKey": self.identity.signing_key,
                "encryptionKey": self.identity.encryption_key}
        if any(shown.get(k) != v for k, v in ours.items()):
            await self.portal.register_connector(self.public_url, self.identity.signing_key,
                                                 self.identity.encryption_key)
            log.info("registered the connector at the portal: %s", self.public_url)
        await anyio.to_thread.run_sync(partial(self.trust.update, endpoint_url=self.public_url))
        self._registered = True

    async def publish(self, org_id: str, slugs: frozenset[str]) -> None:
        await publish_asset_types(self.portal, self.owner, org_id, slugs)
        self._published = slugs

    async def _follow_subscriptions(self, org_id: str) -> None:
        items = await self.portal.subscriptions()
        shown = [(item, Role.PROVIDER if item["providerOrgId"] == org_id else Role.CONSUMER) for item in items]
        for (item, role), (row, changed) in zip(shown, await anyio.to_thread.run_sync(self.ledger.upsert_all, shown),
                                                strict=True):
            view = view_of(row)
            if changed and view.state in FINAL_STATES:
                await self._terminate(view.id, Code(view.state), row.reason or f"the subscription is {view.state}")
            if view.state not in GRANT_STATES:
                continue
            if role is Role.CONSUMER:
                await self._prepare_consumer(view, item)

    async def _prepare_consumer(self, view: SubscriptionView, item: dict[str, Any]) -> None:
        """What our consumer side needs: the provider's endpoint, keys and identity, and a current grant."""
        changes: dict[str, Any] = {}
        seen_at = self._peers_at.get(view.id)
        if seen_at is None or self.clock.monotonic() - seen_at > PEER_REFRESH_SECONDS or not view.peer_endpoint:
            provider = await self.portal.organisation(view.peer_org_id)
            changes.update(peer_endpoint=provider.get("endpointUrl"), peer_signing_key=provider.get("signingKey"),
                           peer_encryption_key=provider.get("encryptionKey"))
            if not view.provider_base_iri:
                asset = await self.portal.asset(item["assetId"])
                shell_id = (asset.get("typeShell") or {}).get("id", "")
                try:
                    changes.update(provider_owner=asset.get("owner"),
                                   provider_base_iri=base_iri_of_type_shell(shell_id, view.asset_type))
                except ValueError as exc:
                    log.warning("subscription %s: cannot tell the provider's ids: %s", view.id, exc)
            self._peers_at[view.id] = self.clock.monotonic()
        now = self.clock.now()
        if view.grant is None or view.grant_expires_at is None or view.grant_expires_at - now < _refresh_margin(view):
            try:
                grant = await self.portal.grant(view.id)
                changes.update(grant=grant["grant"], grant_expires_at=_time(grant["expiresAt"]))
            except PortalRefused as exc:
                log.info("subscription %s: no grant yet: %s", view.id, exc.detail)
        if changes:
            await anyio.to_thread.run_sync(partial(self.ledger.update, view.id, **changes))

    # -- revocations ------------------------------------------------------------------------------------------
    async def _follow_revocations(self) -> None:
        """The feed, page by page from the last seq taken: the fallback of the stream."""
        while True:
            feed = await self.portal.revocations(self.trust.trust.revocations_since)
            items = feed.get("items") or []
            for item in items:
                await self.take_revocation(item)
            await self._taken_up_to(int(feed["next"]))
            if not items:
                return

    async def take_revocation(self, item: dict[str, Any]) -> None:
        """One item of the portal's revocation feed or stream (either way the same): the ledger records the end
        (a final state stays as it is), and every data plane ends the subscription's channels now."""
        state = SubscriptionState(item["state"])
        subscription_id = str(item["subscriptionId"])
        ended = await anyio.to_thread.run_sync(self.ledger.end, [subscription_id], state, item.get("reason"))
        for ended_id in ended:
            log.info("subscription %s ended: %s", ended_id, state)
        await self._terminate(subscription_id, Code(state), item.get("reason") or state.value)

    async def _taken_up_to(self, seq: int) -> None:
        """The cursor of the feed and the stream alike; it only moves forward (both may take one item)."""
        if seq > self.trust.trust.revocations_since:
            await anyio.to_thread.run_sync(partial(self.trust.update, revocations_since=seq))

    async def follow_revocations(self) -> None:
        """The portal's revocation stream, in a task of its own beside the rounds, while this worker is in charge:
        each revocation ends its channels as the portal writes it, instead of at the next round. Reconnects after
        the last seq taken (``Last-Event-ID``), at once when a stream ended after running a while (the portal ends
        it when our access token expires), else after a doubling, jittered delay; a refusal (too many streams)
        waits the longest. Never raises for the portal's sake."""
        delay = self.settings.reconnect_min_seconds
        while True:
            if not self.in_charge():
                await self.clock.sleep(IN_CHARGE_CHECK_SECONDS)
                continue
            opened_at: list[float] = []
            try:
                await self._while_in_charge(self._follow_stream(opened_at))
            except PortalRefused as exc:
                log.warning("%s; following the feed each round meanwhile", exc)
                delay = self.settings.reconnect_max_seconds
            except PortalUnavailable as exc:
                if opened_at:  # an outage is logged when it starts
                    log.warning("%s; reconnecting", exc)
            finally:
                self.status.following = False
            if opened_at and self.clock.monotonic() - opened_at[0] >= STEADY_STREAM_SECONDS:
                delay = self.settings.reconnect_min_seconds
                continue
            await self.clock.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret
            delay = min(delay * 2, self.settings.reconnect_max_seconds)

    async def _follow_stream(self, opened_at: list[float]) -> None:
        def opened() -> None:
            opened_at.append(self.clock.monotonic())
            self.status.following = True

        async for item in self.portal.revocation_events(self.trust.trust.revocations_since, opened):
            await self.take_revocation(item)
            await self._taken_up_to(int(item["seq"]))

    async def _while_in_charge(self, work: Awaitable[None]) -> None:
        """``work`` in a child task, cancelled (and awaited) as soon as this worker is no longer in charge."""
        task = asyncio.ensure_future(work)
        done = asyncio.Event()
        task.add_done_callback(lambda _: done.set())
        try:
            while not done.is_set():
                if not await self.clock.wait(done, IN_CHARGE_CHECK_SECONDS) and not self.in_charge():
                    log.info("no longer in charge of the portal rounds: stopped following the revocation stream")
                    return
        finally:
            await cancel_and_wait(task)
        task.result()

    async def _tell_revocations(self) -> None:
        """Revocations made here (``aadsys connector revoke``) that the portal has not accepted: told again each
        round until it does. An unreachable portal ends the round (``PortalUnavailable``); a refusal is logged and
        tried again next round."""
        for row in await anyio.to_thread.run_sync(self.ledger.untold_revocations):
            try:
                state = await tell_portal(self.portal, row.id, row.reason)
            except PortalRefused as exc:
                log.warning("subscription %s: the portal refused our revocation: %s", row.id, exc.detail)
                continue
            await anyio.to_thread.run_sync(self.ledger.revocation_told, row.id)
            log.info("subscription %s: the portal has our revocation (%s)", row.id, state)

    # -- reports ------------------------------------------------------------------------------------------------
    async def _report(self, rows: Sequence[SubscriptionRow]) -> bool:
        """Progress that changed, and finished transfers; True if anything was reported."""
        anything = False
        realtime = [(row, view) for row in rows
                    if (view := view_of(row)).mode is Mode.REALTIME and view.state in REPORTED_STATES]
        figures_of = await anyio.to_thread.run_sync(self.progress.progress_of, [view for _, view in realtime])
        for row, view in realtime:
            progress = figures_of[view.id]
            figures = {"count": progress.count, "lastSeq": progress.last_seq, "expired": progress.expired}
            if figures != row.reported:
                await self.portal.report_progress(view.id, view.role.value, count=progress.count,
                                                  last_seq=progress.last_seq, expired=progress.expired)
                await anyio.to_thread.run_sync(partial(self.ledger.update, view.id, reported=figures))
                anything = True
        for result in await anyio.to_thread.run_sync(self.progress.finished_transfers):
            subscription = await anyio.to_thread.run_sync(self.ledger.get, result.subscription_id)
            transfer_id = subscription.transfer_id if subscription else None
            if not transfer_id:  # not reportable yet: the ledger's row changes when the portal names it
                continue
            anything = True
            try:
                await self.portal.report_transfer(transfer_id, result.role.value, result.count, result.digest)
            except PortalRefused as exc:
                log.warning("transfer %s: the portal refused our report: %s", transfer_id, exc.detail)
                if exc.status == 409:
                    await anyio.to_thread.run_sync(self.progress.transfer_failed, result.subscription_id, exc.detail)
                continue
            await anyio.to_thread.run_sync(self.progress.transfer_reported, result.subscription_id)
            log.info("transfer %s: reported %s side, %d instances", transfer_id, result.role, result.count)
        return anything


def next_pause(pause: float, quiet: bool, poll_seconds: float) -> float:
    """The pause after a round: doubled after a quiet one, up to ``IDLE_BACKOFF`` times ``poll_seconds``; back to
    ``poll_seconds`` after one that found a change."""
    return min(2 * pause, IDLE_BACKOFF * poll_seconds) if quiet else poll_seconds


def _seconds_until_due(rows: Sequence[SubscriptionRow], now: datetime) -> float:
    """Seconds from ``now`` until a round must act on one of ``rows``: a live real-time window ends, or a grant we
    hold is due to be fetched again (``_refresh_margin``)."""
    views = [view_of(row) for row in rows]
    due = [view.valid_to for view in views if view.mode is Mode.REALTIME]
    due += [view.grant_expires_at - _refresh_margin(view) for view in views
            if view.grant is not None and view.grant_expires_at is not None]
    return min((ahead for moment in due if (ahead := (moment - now).total_seconds()) > 0), default=float("inf"))


def _refresh_margin(view: SubscriptionView) -> timedelta:
    """Fetch a fresh grant when a third of the current one's life is left (at most an hour before it ends)."""
    if view.grant is None:
        return timedelta(0)
    claims = unverified_claims(view.grant)  # our own grant, fetched from the portal over TLS: only its times
    lifetime = timedelta(seconds=int(claims.get("exp", 0)) - int(claims.get("iat", 0)))
    return min(timedelta(hours=1), lifetime / 3)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
