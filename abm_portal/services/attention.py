"""What needs a person's attention, for the home page each role lands on after logging in.

For an organisation's people, from what the portal holds of their subscriptions (DESIGN §5.5, §6):

- requests to decide: subscriptions to the organisation's assets still ``requested``;
- windows closing soon: real-time subscriptions in a grant state whose ``validTo`` is within ``EXPIRING_WITHIN``;
- transfers running or failed: historical transfer jobs not yet completed, and those that failed, with the reason;
- refusals and trouble the connectors reported: deliveries the provider's connector reports as expired before the
  consumer stored them, real-time figures that do not reconcile, and the organisation's connector client or
  accounts locked out after failed authentications (``services.throttle``).

For a portal operator, portal-wide: accounts, clients and addresses locked out now, and organisations whose
connector has not registered an endpoint yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, or_, select

from abm_portal.clock import as_utc, utcnow
from abm_portal.models import AuthThrottle, Organisation, TransferJob, User
from abm_portal.services import lifecycle, progress, subscriptions, throttle, transfers
from abm_portal.services.actors import Actor
from abm_portal.services.lifecycle import SubscriptionState, TransferState
from abm_portal.services.subscriptions import SubscriptionView

EXPIRING_WITHIN = timedelta(days=7)
MAX_SHOWN = 50


@dataclass(frozen=True)
class TransferWatch:
    """A historical transfer that is under way or failed, with the subscription it belongs to."""

    subscription: SubscriptionView
    job: TransferJob


@dataclass(frozen=True)
class ConnectorReport:
    """Something a connector reported that did not go right, about one real-time subscription."""

    subscription: SubscriptionView
    reported_at: datetime
    message: str


@dataclass(frozen=True)
class OrganisationAttention:
    to_decide: list[SubscriptionView]
    expiring: list[SubscriptionView]
    transfers: list[TransferWatch]
    reports: list[ConnectorReport]
    lockouts: list[AuthThrottle]

    @property
    def empty(self) -> bool:
        return not (self.to_decide or self.expiring or self.transfers or self.reports or self.lockouts)


@dataclass(frozen=True)
class PortalAttention:
    lockouts: list[AuthThrottle]
    without_connector: list[Organisation]


def for_organisation(db: Session, actor: Actor, now: datetime | None = None) -> OrganisationAttention:
    now = now or utcnow()
    org_id = actor.own_org()
    listed = subscriptions.list_subscriptions(db, actor, role=None, state=None)
    by_id = {s.id: s for s in listed}
    to_decide = [s for s in listed if s.provider_org_id == org_id and s.state == SubscriptionState.requested]
    expiring = sorted((s for s in listed if s.mode == "realtime" and s.state in lifecycle.GRANT_STATES
                       and as_utc(s.valid_to) <= now + EXPIRING_WITHIN), key=lambda s: s.valid_to)
    watched = [TransferWatch(by_id[job.subscription_id], job) for job in transfers.list_transfers(db, actor)
               if job.state != TransferState.completed and job.subscription_id in by_id]
    return OrganisationAttention(to_decide[:MAX_SHOWN], expiring[:MAX_SHOWN], watched[:MAX_SHOWN],
                                 _reports(db, listed)[:MAX_SHOWN], _organisation_lockouts(db, org_id, now))


def for_operator(db: Session, now: datetime | None = None) -> PortalAttention:
    now = now or utcnow()
    locked = db.exec(select(AuthThrottle).where(col(AuthThrottle.locked_until) > now)
                     .order_by(col(AuthThrottle.locked_until).desc()).limit(MAX_SHOWN)).all()
    waiting = db.exec(select(Organisation).where(col(Organisation.endpoint_url).is_(None))
                      .order_by(col(Organisation.created_at)).limit(MAX_SHOWN)).all()
    return PortalAttention(list(locked), list(waiting))


def _reports(db: Session, listed: Sequence[SubscriptionView]) -> list[ConnectorReport]:
    found = []
    figures = progress.progress_by_subscription(db, listed)
    for sub in listed:
        view = figures.get(sub.id)
        if view is None or view.provider is None:
            continue
        sent = view.provider
        if sent.expired:
            found.append(ConnectorReport(sub, sent.reported_at, f"{sent.expired} of {sent.count} deliveries passed "
                                         f"their time to live before {sub.consumer_name} stored them."))
        stored = view.consumer
        if stored is not None and not view.reconciled:
            found.append(ConnectorReport(sub, max(sent.reported_at, stored.reported_at),
                                         f"The figures do not reconcile: sent {sent.count} (up to #{sent.last_seq}), "
                                         f"stored {stored.count} (up to #{stored.last_seq}), expired {sent.expired}."))
    return sorted(found, key=lambda r: r.reported_at, reverse=True)


def _organisation_lockouts(db: Session, org_id: str, now: datetime) -> list[AuthThrottle]:
    """The organisation's connector client and accounts that may not authenticate now."""
    client_id = db.exec(select(Organisation.client_id).where(Organisation.id == org_id)).one()
    emails = db.exec(select(User.email).where(User.org_id == org_id)).all()
    mine = or_((col(AuthThrottle.scope) == throttle.CLIENT) & (col(AuthThrottle.key) == client_id),
               (col(AuthThrottle.scope) == throttle.ACCOUNT) & col(AuthThrottle.key).in_(emails))
    return list(db.exec(select(AuthThrottle).where(mine, col(AuthThrottle.locked_until) > now)).all())
