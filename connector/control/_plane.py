"""The control plane: everything the connector settles with the portal, in one loop (every ``poll_seconds``).

Each round: an access token (refreshed before it expires); our organisation's id and the portal's issuer
and JWKS (cached on disk); the connector's endpoint and public keys, registered again when they differ
from what the portal shows; our asset types, published when missing or different (publishing twice makes
nothing new); our subscriptions, with the partner's endpoint and keys and, as consumer, a grant fetched
before the one we hold expires; the revocation feed; then the data plane is told which subscriptions are
live, and progress and finished historical transfers are reported. Any step that cannot reach the portal
is retried next round; the data plane works on from the database meanwhile.

As ``Admissions`` it answers the data plane's questions about a presented grant (DESIGN §5.1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import anyio

from aadsys.core.db import Database
from aas_models import Owner, asset_type_metadata, base_iri_of_type_shell
from connector._identity import Identity
from connector._settings import ConnectorSettings
from connector.control._ledger import Ledger, view_of
from connector.control._portal import PortalClient, unverified_claims
from connector.control._trust import TrustStore, check_grant
from connector.data import _received
from connector.data._history import HistoryJobs
from connector.data._outbox import Outbox
from connector.data._states import HistoryState
from connector.errors import GrantRefused, PortalError, PortalRefused, PortalUnavailable
from connector.spi import (
    FINAL_STATES,
    GRANT_STATES,
    DataFlows,
    GrantClaims,
    Mode,
    Role,
    SubscriptionState,
    SubscriptionView,
)

log = logging.getLogger("connector.control")
TRUST_REFRESH_SECONDS = 60.0
PEER_REFRESH_SECONDS = 60.0
COMPARED_METADATA = ("name", "description", "assetType", "semanticIds", "submodels", "typeShell", "globalAssetId",
                     "owner", "keyField", "versioned")
REPORTED_STATES = frozenset({SubscriptionState.APPROVED, SubscriptionState.ACTIVE, SubscriptionState.EXPIRED,
                             SubscriptionState.REVOKED, SubscriptionState.CANCELLED})


@dataclass
class PortalStatus:
    reachable: bool | None = None
    last_error: str | None = None


def metadata_to_publish(slug: str, owner: Owner) -> dict[str, Any]:
    """What we publish for ``slug``: ``asset_type_metadata`` without its IRI id, publicly listed."""
    return {**{k: v for k, v in asset_type_metadata(slug, owner).items() if k != "id"}, "visibility": "public"}


async def publish_asset_types(portal: PortalClient, owner: Owner, org_id: str, slugs: frozenset[str]
                              ) -> dict[str, str]:
    """Publish ``slugs`` where missing or different (publishing twice makes nothing new); returns asset type ->
    portal asset id."""
    existing = {a["assetType"]: a for a in await portal.assets(org=org_id)}
    ids = {}
    for slug in sorted(slugs):
        body = metadata_to_publish(slug, owner)
        found = existing.get(slug)
        if found is None:
            found = await portal.publish(body)
            log.info("published asset type %s at the portal (%s)", slug, found["id"])
        elif any(found.get(k) != body.get(k) for k in COMPARED_METADATA):
            found = await portal.update_asset(found["id"], body)
            log.info("updated asset type %s at the portal (%s)", slug, found["id"])
        ids[slug] = found["id"]
    return ids


class ControlPlane:
    def __init__(self, *, tuning: ConnectorSettings, db: Database, identity: Identity, portal: PortalClient,
                 trust: TrustStore, ledger: Ledger, jobs: HistoryJobs, outbox: Outbox, owner: Owner,
                 public_url: str, asset_types: Callable[[], frozenset[str]], flows: Sequence[DataFlows]) -> None:
        self.tuning, self.db, self.identity, self.portal = tuning, db, identity, portal
        self.trust, self.ledger, self.jobs, self.outbox = trust, ledger, jobs, outbox
        self.owner, self.public_url, self.asset_types, self.flows = owner, public_url, asset_types, flows
        self.status = PortalStatus()
        self._registered = False
        self._published: frozenset[str] | None = None
        self._trust_at = 0.0
        self._peers_at: dict[str, float] = {}

    # -- the loop ---------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.tuning.poll_seconds)

    async def round(self) -> None:
        """One round; never raises for the portal's sake."""
        try:
            await self._settle_with_portal()
            if self.status.reachable is False:
                log.warning("the portal answers again")
            self.status.reachable, self.status.last_error = True, None
        except PortalError as exc:
            reachable = not isinstance(exc, PortalUnavailable)
            if reachable or self.status.reachable is not False:  # an outage is logged once, when it starts
                log.warning("%s%s", exc, "" if reachable else "; working on from cached grants and keys")
            self.status.reachable, self.status.last_error = reachable, str(exc)
        except Exception:  # a bug must not stop the connector's other work
            log.exception("control plane round failed")
        live = await anyio.to_thread.run_sync(self.ledger.live)
        for flows in self.flows:
            await flows.reconcile(live)
        try:
            await self._report()
        except PortalError as exc:
            self.status.last_error = str(exc)

    async def _settle_with_portal(self) -> None:
        org_id = await self.portal.own_org_id()
        if time.monotonic() - self._trust_at > TRUST_REFRESH_SECONDS or self.trust.trust.org_id != org_id:
            await self._refresh_trust(org_id)
        if not self._registered:
            await self._register(org_id)
        wanted = frozenset(self.tuning.publish if self.tuning.publish is not None else self.asset_types())
        if self._published != wanted:
            await self.publish(org_id, wanted)
        await self._follow_subscriptions(org_id)
        await self._follow_revocations()

    async def _refresh_trust(self, org_id: str | None = None) -> None:
        issuer, jwks = await self.portal.issuer(), await self.portal.jwks()
        await anyio.to_thread.run_sync(partial(self.trust.update, issuer=issuer, jwks=jwks,
                                               org_id=org_id or self.trust.trust.org_id))
        self._trust_at = time.monotonic()

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
        for item in await self.portal.subscriptions():
            role = Role.PROVIDER if item["providerOrgId"] == org_id else Role.CONSUMER
            row, changed = await anyio.to_thread.run_sync(self.ledger.upsert, item, role, org_id)
            view = view_of(row)
            if changed and view.state in FINAL_STATES:
                for flows in self.flows:
                    await flows.terminate(view.id, view.state.value, row.reason or f"the subscription is {view.state}")
            if view.state not in GRANT_STATES:
                continue
            if role is Role.CONSUMER:
                await self._prepare_consumer(view, item)

    async def _prepare_consumer(self, view: SubscriptionView, item: dict[str, Any]) -> None:
        """What our consumer side needs: the provider's endpoint, keys and identity, and a current grant."""
        changes: dict[str, Any] = {}
        if time.monotonic() - self._peers_at.get(view.id, 0.0) > PEER_REFRESH_SECONDS or not view.peer_endpoint:
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
            self._peers_at[view.id] = time.monotonic()
        now = datetime.now(UTC)
        if view.grant is None or view.grant_expires_at is None or view.grant_expires_at - now < _refresh_margin(view):
            try:
                grant = await self.portal.grant(view.id)
                changes.update(grant=grant["grant"], grant_expires_at=_time(grant["expiresAt"]))
            except PortalRefused as exc:
                log.info("subscription %s: no grant yet: %s", view.id, exc.detail)
        if changes:
            await anyio.to_thread.run_sync(partial(self.ledger.update, view.id, **changes))

    async def _follow_revocations(self) -> None:
        while True:
            feed = await self.portal.revocations(self.trust.trust.revocations_since)
            items = feed.get("items") or []
            for item in items:
                state = SubscriptionState(item["state"])
                ended = await anyio.to_thread.run_sync(self.ledger.end, [item["subscriptionId"]], state,
                                                       item.get("reason"))
                for subscription_id in ended:
                    log.info("subscription %s ended: %s", subscription_id, state)
                for flows in self.flows:
                    await flows.terminate(item["subscriptionId"], state.value, item.get("reason") or state.value)
            since = int(feed["next"])
            await anyio.to_thread.run_sync(partial(self.trust.update, revocations_since=since))
            if not items:
                return

    # -- reports ------------------------------------------------------------------------------------------------
    async def _report(self) -> None:
        for row in await anyio.to_thread.run_sync(self.ledger.rows):
            view = view_of(row)
            if view.mode is Mode.REALTIME and view.state in REPORTED_STATES:
                figures = await anyio.to_thread.run_sync(self._progress, view)
                if figures != row.reported:
                    await self.portal.report_progress(view.id, view.role.value, **_progress_args(figures))
                    await anyio.to_thread.run_sync(partial(self.ledger.update, view.id, reported=figures))
        for job in await anyio.to_thread.run_sync(self.jobs.finished_unreported):
            subscription = await anyio.to_thread.run_sync(self.ledger.get, job.subscription_id)
            transfer_id = subscription.transfer_id if subscription else None
            if not transfer_id or job.count is None or job.digest is None:
                continue
            try:
                await self.portal.report_transfer(transfer_id, job.role, job.count, job.digest)
            except PortalRefused as exc:
                log.warning("transfer %s: the portal refused our report: %s", transfer_id, exc.detail)
                if exc.status == 409:
                    await anyio.to_thread.run_sync(partial(self.jobs.move, job.subscription_id, HistoryState.FAILED,
                                                           reason=exc.detail))
                continue
            await anyio.to_thread.run_sync(self.jobs.move, job.subscription_id, HistoryState.REPORTED)
            log.info("transfer %s: reported %s side, %d instances", transfer_id, job.role, job.count)

    def _progress(self, view: SubscriptionView) -> dict[str, int]:
        if view.role is Role.PROVIDER:
            f = self.outbox.figures(view.id)
            return {"count": f.sent, "lastSeq": f.last_seq_sent, "expired": f.expired}
        received = _received.figures(self.db, view.id)
        return {"count": received.stored, "lastSeq": received.last_seq, "expired": 0}

    # -- Admissions -----------------------------------------------------------------------------------------------
    async def check(self, grant: str) -> GrantClaims:
        try:
            claims = check_grant(grant, self.trust.trust, leeway=self.tuning.clock_skew_seconds)
        except GrantRefused as exc:
            if exc.code not in ("unknown-key", "no-trust") or time.monotonic() - self._trust_at < 5:
                raise
            try:  # the portal may have rotated its key, or we never reached it yet
                await self._refresh_trust(await self.portal.own_org_id())
            except PortalError:
                raise exc from None
            claims = check_grant(grant, self.trust.trust, leeway=self.tuning.clock_skew_seconds)
        row = await anyio.to_thread.run_sync(self.ledger.get, claims.subscription_id)
        if row is not None and SubscriptionState(row.state) in FINAL_STATES:  # known here, even if the portal is down
            raise GrantRefused(row.state, f"the subscription is {row.state}" + (f": {row.reason}" if row.reason
                                                                                else ""), claims.subscription_id)
        return claims

    async def confirm(self, claims: GrantClaims, grant: str) -> None:
        try:
            answer = await self.portal.verify(claims.subscription_id, grant)
        except PortalUnavailable as exc:
            log.info("subscription %s: grant checked offline only (%s)", claims.subscription_id, exc.cause)
            return
        except PortalRefused as exc:
            raise GrantRefused("unknown-subscription", f"the portal does not confirm it: {exc.detail}",
                               claims.subscription_id) from None
        if not answer.get("valid"):
            state = str(answer.get("state") or "invalid")
            code = state if state not in GRANT_STATES else "invalid"
            reason = str(answer.get("reason") or f"the subscription is {state}")
            if state not in GRANT_STATES:
                await anyio.to_thread.run_sync(self.ledger.end, [claims.subscription_id], SubscriptionState(state),
                                               reason)
            raise GrantRefused(code, reason, claims.subscription_id)


def _refresh_margin(view: SubscriptionView) -> timedelta:
    """Fetch a fresh grant when a third of the current one's life is left (at most an hour before it ends)."""
    if view.grant is None:
        return timedelta(0)
    claims = unverified_claims(view.grant)  # our own grant, fetched from the portal over TLS: only its times
    lifetime = timedelta(seconds=int(claims.get("exp", 0)) - int(claims.get("iat", 0)))
    return min(timedelta(hours=1), lifetime / 3)


def _progress_args(figures: dict[str, int]) -> dict[str, int]:
    return {"count": figures["count"], "last_seq": figures["lastSeq"], "expired": figures["expired"]}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
