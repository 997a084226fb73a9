"""Subscriptions: a consumer asks for an asset with a mode and a date range; the provider's admin decides.

Rules of the request (issue 3): ``validTo`` after ``validFrom``; a historical range lies in the past (it names
records that exist already); a real-time range does not lie wholly in the past. Nobody subscribes to their
own organisation's asset. Only the provider's org admin approves or rejects; it or the provider's connector
revokes; the consumer may cancel.
Parties see a subscription; anyone else gets ``NotFound``, never a hint that it exists.

A decision repeated (approve an approved or active one, reject a rejected, revoke a revoked, cancel a cancelled)
changes nothing, records nothing and answers the subscription as it is, so a client or a proxy may send it
again when the first answer was lost (a worker killed after its commit, DESIGN §10). Any other move the
transition table does not allow is ``InvalidTransition``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, not_, or_, select

from abm_portal.clock import as_utc, utcnow
from abm_portal.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from abm_portal.models import Asset, Organisation, Subscription, TransferJob
from abm_portal.services import assets, audit, lifecycle, rows
from abm_portal.services.actors import CONNECTOR, ORG_ADMIN, ORG_MEMBER, Actor
from abm_portal.services.lifecycle import SubscriptionState, TransferState

MODES = ("realtime", "historical")
ROLES = ("provider", "consumer")
MAX_REASON = 500
MAX_LISTED = 500
# A historical range may end this little in the future: the form works to the minute, clocks differ a little.
HISTORICAL_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as its parties see it, with the names of the asset and both organisations."""

    id: str
    asset_id: str
    asset_name: str
    asset_type: str
    provider_org_id: str
    provider_name: str
    consumer_org_id: str
    consumer_name: str
    mode: str
    state: str
    valid_from: datetime
    valid_to: datetime
    requested_by: str
    decided_by: str | None
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    updated_at: datetime


_Provider = aliased(Organisation)
_Consumer = aliased(Organisation)


def _views_query() -> Any:
    return (select(Subscription, Asset, col(_Provider.name), col(_Consumer.name))
            .join(Asset, col(Asset.id) == Subscription.asset_id)
            .join(_Provider, col(_Provider.id) == Subscription.provider_org_id)
            .join(_Consumer, col(_Consumer.id) == Subscription.consumer_org_id))


def _view(found: Any, now: datetime) -> SubscriptionView:
    sub, asset, provider_name, consumer_name = found
    state = lifecycle.effective_state(sub.mode, sub.state, sub.valid_to, now)
    return SubscriptionView(
        id=sub.id, asset_id=sub.asset_id, asset_name=asset.name, asset_type=asset.asset_type,
        provider_org_id=sub.provider_org_id, provider_name=provider_name, consumer_org_id=sub.consumer_org_id,
        consumer_name=consumer_name, mode=sub.mode, state=state, valid_from=sub.valid_from,
        valid_to=sub.valid_to, requested_by=sub.requested_by, decided_by=sub.decided_by, reason=sub.reason,
        created_at=sub.created_at, decided_at=sub.decided_at, updated_at=sub.updated_at)


def request_subscription(db: Session, actor: Actor, *, asset_id: str, mode: str, valid_from: datetime,
                         valid_to: datetime) -> SubscriptionView:
    consumer_org = actor.require(ORG_ADMIN, ORG_MEMBER, CONNECTOR, to="request subscriptions")
    asset = assets.get_asset(db, actor, asset_id)
    if asset.org_id == consumer_org:
        raise ValidationFailed("assetId", "This asset is your own organisation's; subscribe to a partner's asset.")
    check_window(mode, valid_from, valid_to)
    sub = Subscription(asset_id=asset.id, provider_org_id=asset.org_id, consumer_org_id=consumer_org, mode=mode,
                       valid_from=as_utc(valid_from), valid_to=as_utc(valid_to), state=SubscriptionState.requested,
                       requested_by=actor.label)
    db.add(sub)
    audit.record(db, actor, "subscription.requested", f"subscription {sub.id}", org_id=asset.org_id,
                 partner_org_id=consumer_org, after=SubscriptionState.requested,
                 detail={"asset": asset.id, "mode": mode, "validFrom": sub.valid_from.isoformat(),
                         "validTo": sub.valid_to.isoformat()})
    db.commit()
    return get_subscription(db, actor, sub.id)


def check_window(mode: str, valid_from: datetime, valid_to: datetime, now: datetime | None = None) -> None:
    """The date rules of a request; ``ValidationFailed`` names the field to change and how."""
    if mode not in MODES:
        raise ValidationFailed("mode", "Choose the mode realtime or historical.")
    for field, value in (("validFrom", valid_from), ("validTo", valid_to)):
        if value.tzinfo is None:
            raise ValidationFailed(field, f"Give {field} with a time zone, e.g. 2026-11-22T14:00:00Z.")
    now = now or utcnow()
    if valid_to <= valid_from:
        raise ValidationFailed("validTo", "“Valid to” must be after “valid from”; swap or correct the dates.")
    if mode == "historical" and valid_to > now + HISTORICAL_SKEW:
        raise ValidationFailed("validTo", "A historical range must lie in the past: set “valid to” to now or "
                                          "earlier, or choose real-time for records still to come.")
    if mode == "realtime" and valid_to <= now:
        raise ValidationFailed("validTo", "A real-time range must not lie wholly in the past: set “valid to” in "
                                          "the future, or choose historical for past records.")


def list_subscriptions(db: Session, actor: Actor, *, role: str | None, state: str | None) -> list[SubscriptionView]:
    """The actor's organisation's subscriptions, as provider, as consumer, or both (``role`` None)."""
    org_id = actor.own_org()
    if role is not None and role not in ROLES:
        raise ValidationFailed("role", "role is provider or consumer (or leave it out for both).")
    if state is not None and state not in lifecycle.SUBSCRIPTION_STATES:
        raise ValidationFailed("state", f"state is one of {', '.join(lifecycle.SUBSCRIPTION_STATES)}.")
    now = utcnow()
    sides = {"provider": col(Subscription.provider_org_id) == org_id,
             "consumer": col(Subscription.consumer_org_id) == org_id}
    query = _views_query().where(sides[role] if role else or_(*sides.values()))
    if state is not None:  # by the state a reader sees: a closed window is expired before the sweep records it
        due = lifecycle.due_for_expiry(now)
        if state == SubscriptionState.expired:
            query = query.where(or_(Subscription.state == state, due))
        else:
            query = query.where(Subscription.state == state, not_(due))
    found = db.exec(query.order_by(col(Subscription.created_at).desc()).limit(MAX_LISTED)).all()
    return [_view(f, now) for f in found]


def get_subscription(db: Session, actor: Actor, subscription_id: str) -> SubscriptionView:
    found = db.exec(_views_query().where(Subscription.id == subscription_id)).first()
    if found is None or actor.own_org() not in (found[0].provider_org_id, found[0].consumer_org_id):
        raise _not_found()
    return _view(found, utcnow())


def party_subscription(db: Session, actor: Actor, subscription_id: str) -> Subscription:
    """The subscription row, locked for a change, if the actor's organisation is one of its parties; a closed
    window's expiry is recorded first, so the change starts from the state readers see."""
    org_id = actor.own_org()
    sub = rows.locked(db, Subscription, subscription_id)
    if sub is None or org_id not in (sub.provider_org_id, sub.consumer_org_id):
        raise _not_found()
    lifecycle.expire_if_due(db, sub)
    return sub


def _not_found() -> NotFound:
    return NotFound("There is no such subscription among your organisation's.")


def _decision_by_provider_admin(db: Session, actor: Actor, subscription_id: str, what: str, *,
                                roles: tuple[str, ...] = (ORG_ADMIN,)) -> Subscription:
    sub = party_subscription(db, actor, subscription_id)
    if actor.org_id != sub.provider_org_id:
        raise Forbidden(f"Only the provider's administrator can {what} a subscription; your organisation is its "
                        "consumer.")
    if actor.role not in roles:
        who = "an administrator or the connector" if CONNECTOR in roles else "an administrator"
        raise Forbidden(f"Only {who} of your organisation can {what} subscriptions.")
    return sub


def approve(db: Session, actor: Actor, subscription_id: str) -> SubscriptionView:
    """The provider's admin approves: connectors may now fetch the grant; a historical one gets a transfer job."""
    sub = _decision_by_provider_admin(db, actor, subscription_id, "approve")
    if sub.state in (SubscriptionState.approved, SubscriptionState.active):
        return _unchanged(db, actor, sub)
    if sub.state == SubscriptionState.requested and sub.mode == "realtime" and sub.valid_to <= utcnow():
        raise InvalidTransition("subscription", sub.state, SubscriptionState.approved,
                                "The requested window has ended already; reject the request instead.")
    lifecycle.move_subscription(db, actor, sub, SubscriptionState.approved)
    sub.decided_by, sub.decided_at = actor.label, utcnow()
    if sub.mode == "historical":
        job = TransferJob(subscription_id=sub.id, state=TransferState.pending)
        db.add(job)
        audit.record(db, actor, "transfer.pending", f"transfer {job.id}", org_id=sub.provider_org_id,
                     partner_org_id=sub.consumer_org_id, after=TransferState.pending, detail={"subscription": sub.id})
    db.commit()
    return get_subscription(db, actor, sub.id)


def reject(db: Session, actor: Actor, subscription_id: str, *, reason: str) -> SubscriptionView:
    why = _checked_reason(reason, required=True)
    sub = _decision_by_provider_admin(db, actor, subscription_id, "reject")
    if sub.state == SubscriptionState.rejected:
        return _unchanged(db, actor, sub)
    lifecycle.move_subscription(db, actor, sub, SubscriptionState.rejected, reason=why)
    sub.decided_by, sub.decided_at = actor.label, utcnow()
    db.commit()
    return get_subscription(db, actor, sub.id)


def revoke(db: Session, actor: Actor, subscription_id: str, *, reason: str | None = None) -> SubscriptionView:
    """The provider's admin, or the provider's connector, ends an approved or active subscription; its grant is
    refused from now on. The connector may revoke (``aadsys connector revoke``: the provider ended it on its own
    side first) but never approve or reject: revoking only takes access away."""
    reason = _checked_reason(reason, required=False)
    sub = _decision_by_provider_admin(db, actor, subscription_id, "revoke", roles=(ORG_ADMIN, CONNECTOR))
    if sub.state == SubscriptionState.revoked:
        return _unchanged(db, actor, sub)
    lifecycle.move_subscription(db, actor, sub, SubscriptionState.revoked, reason=reason)
    db.commit()
    return get_subscription(db, actor, sub.id)


def cancel(db: Session, actor: Actor, subscription_id: str, *, reason: str | None = None) -> SubscriptionView:
    """The consumer withdraws a request or ends its subscription."""
    reason = _checked_reason(reason, required=False)
    actor.require(ORG_ADMIN, ORG_MEMBER, CONNECTOR, to="cancel subscriptions")
    sub = party_subscription(db, actor, subscription_id)
    if actor.org_id != sub.consumer_org_id:
        raise Forbidden("Only the consumer cancels a subscription; as its provider, revoke it instead.")
    if sub.state == SubscriptionState.cancelled:
        return _unchanged(db, actor, sub)
    lifecycle.move_subscription(db, actor, sub, SubscriptionState.cancelled, reason=reason)
    db.commit()
    return get_subscription(db, actor, sub.id)


def _unchanged(db: Session, actor: Actor, sub: Subscription) -> SubscriptionView:
    """A repeated decision: the subscription as it is (its expiry recorded, if the lock found one due)."""
    db.commit()
    return get_subscription(db, actor, sub.id)


def _checked_reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise ValidationFailed("reason", "Give a reason; the consumer reads it.")
    if len(text) > MAX_REASON:
        raise ValidationFailed("reason", f"Shorten the reason to at most {MAX_REASON} characters.")
    return text or None
