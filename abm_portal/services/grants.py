"""Grants (DESIGN §4): the signed JWT that lets a consumer's connector open a channel to the provider's.

Claims: ``sub`` and ``subscriptionId`` (the subscription), ``providerOrgId``, ``consumerOrgId``, ``assetId``,
``assetType``, ``mode``, ``validFrom``/``validTo`` (RFC 3339), ``consumerKeys`` (the consumer connector's
Ed25519 ``signing`` and X25519 ``encryption`` public keys, base64url), plus ``iss``, ``aud`` (the provider
organisation's id: its connector is the one that checks the grant), ``iat``, ``nbf``, ``exp`` and ``jti``.

Lifetime: a grant lives at most ``grant_max_ttl_seconds``; a real-time grant never outlives ``validTo`` and
is not valid before ``validFrom``. A long real-time subscription fetches a fresh grant (``GET …/grant``)
before the old one expires; that is the grant refresh. The provider checks a grant offline against the
cached JWKS and online with ``verify``, which is how a revocation reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from abm_portal.clock import as_utc, iso, utcnow
from abm_portal.config import Settings
from abm_portal.errors import Conflict, InvalidToken
from abm_portal.models import Organisation
from abm_portal.services import audit, lifecycle, signed_tokens, subscriptions
from abm_portal.services.actors import Actor
from abm_portal.services.lifecycle import SubscriptionState


@dataclass(frozen=True)
class IssuedGrant:
    token: str
    subscription_id: str
    not_before: datetime
    expires_at: datetime


@dataclass(frozen=True)
class GrantCheck:
    """The answer of an online grant check (modelled on token introspection, RFC 7662)."""

    valid: bool
    subscription_id: str
    state: str
    reason: str | None
    expires_at: datetime | None


def issue_grant(db: Session, actor: Actor, subscription_id: str, settings: Settings) -> IssuedGrant:
    """A fresh grant for either party of an approved or active subscription."""
    view = subscriptions.get_subscription(db, actor, subscription_id)
    if view.state not in lifecycle.GRANT_STATES:
        hint = " Wait for the provider's decision." if view.state == SubscriptionState.requested else ""
        raise Conflict(f"There is no grant: the subscription is {view.state}.{hint}")
    consumer = db.get(Organisation, view.consumer_org_id)
    assert consumer is not None
    if not consumer.signing_key or not consumer.encryption_key:
        raise Conflict(f"There is no grant yet: {consumer.name}'s connector has not registered its public keys. "
                       "It does so with PUT /api/v1/connector.")
    now = utcnow()
    max_ttl = timedelta(seconds=settings.grant_max_ttl_seconds)
    not_before, expires_at = now, now + max_ttl
    if view.mode == "realtime":
        not_before = max(now, as_utc(view.valid_from))
        expires_at = min(not_before + max_ttl, as_utc(view.valid_to))
    claims: dict[str, Any] = {
        "sub": view.id, "subscriptionId": view.id, "providerOrgId": view.provider_org_id,
        "consumerOrgId": view.consumer_org_id, "assetId": view.asset_id, "assetType": view.asset_type,
        "mode": view.mode, "validFrom": iso(view.valid_from), "validTo": iso(view.valid_to),
        "consumerKeys": {"signing": consumer.signing_key, "encryption": consumer.encryption_key},
    }
    token = signed_tokens.sign(db, settings, typ=signed_tokens.GRANT_TYPE, claims=claims,
                               audience=view.provider_org_id, not_before=not_before, lifetime_end=expires_at,
                               now=now)
    # Not a state change, but who got a key to a channel and until when belongs in the trail (the report counts it).
    audit.record(db, actor, "grant.issued", f"subscription {view.id}", org_id=view.provider_org_id,
                 partner_org_id=view.consumer_org_id, detail={"notBefore": iso(not_before),
                                                              "expiresAt": iso(expires_at)})
    db.commit()
    return IssuedGrant(token=token, subscription_id=view.id, not_before=not_before, expires_at=expires_at)


def verify_grant(db: Session, actor: Actor, subscription_id: str, token: str, settings: Settings) -> GrantCheck:
    """Check a grant online: signature and lifetime, that it names this subscription, and its current state.

    The provider's successful check of an approved subscription makes it ``active`` (the channel opens).
    """
    view = subscriptions.get_subscription(db, actor, subscription_id)

    def refused(reason: str) -> GrantCheck:
        return GrantCheck(valid=False, subscription_id=view.id, state=view.state, reason=reason, expires_at=None)

    try:
        claims = signed_tokens.verify(db, settings, token, typ=signed_tokens.GRANT_TYPE,
                                      audience=view.provider_org_id)
    except InvalidToken as exc:
        return refused(exc.message)
    if claims.get("sub") != view.id:
        return refused("The grant is for another subscription.")
    if view.state not in lifecycle.GRANT_STATES:
        return refused(f"The subscription is {view.state}" + (f": {view.reason}" if view.reason else "."))
    state = view.state
    if state == SubscriptionState.approved and actor.org_id == view.provider_org_id:
        sub = subscriptions.party_subscription(db, actor, view.id)
        if sub.state == SubscriptionState.approved:
            lifecycle.move_subscription(db, actor, sub, SubscriptionState.active)
            db.commit()
        state = sub.state
    return GrantCheck(valid=True, subscription_id=view.id, state=state, reason=None,
                      expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC))

