"""Progress of real-time subscriptions (DESIGN §5.4–5.5): each connector reports its cumulative figures.

The provider reports what it has sent (``count`` deliveries, the highest sequence number ``last_seq``, and
``expired``: deliveries that passed their TTL unstored); the consumer what it has stored (``count``,
``last_seq``; ``expired`` is 0). The portal keeps the latest figures per subscription and side.

Reports are cumulative and only move forward: one whose ``last_seq`` and ``count`` are both at least the
stored ones replaces them; one with a lower ``last_seq`` or ``count`` is stale (a retry that arrives after a
newer report, e.g. once the portal is back from an outage) and is ignored, and the caller gets the current
figures. ``expired`` takes no part in that order: a late confirmation moves a delivery from expired to
stored at the provider, so its ``expired`` may go down while ``count`` and ``last_seq`` stay.

Reports are taken in every state a channel may have run in, and after its end, so a connector that was cut
off while the portal was down still reports its final figures. The first accepted report of an approved
subscription makes it ``active`` (through ``lifecycle``, which audits that); reports themselves are frequent
and are not audited. Historical subscriptions report their transfer job instead (``transfers``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from abm_portal.clock import utcnow
from abm_portal.errors import Conflict, ValidationFailed
from abm_portal.models import Subscription, SubscriptionProgress, TransferJob
from abm_portal.services import lifecycle, rows, subscriptions
from abm_portal.services.actors import CONNECTOR, ORG_ADMIN, Actor
from abm_portal.services.lifecycle import SubscriptionState
from abm_portal.services.subscriptions import SubscriptionView
from abm_portal.services.transfers import MAX_COUNT as MAX_FIGURE
from abm_portal.services.transfers import SIDES, require_own_side

# States in which a channel may have run (or, ended, its connectors still hold figures to report).
REPORTING_STATES = frozenset({SubscriptionState.approved, SubscriptionState.active, SubscriptionState.expired,
                              SubscriptionState.revoked, SubscriptionState.cancelled})


@dataclass(frozen=True)
class ProgressView:
    """Both sides' latest figures for one real-time subscription; a side is None until it reports."""

    provider: SubscriptionProgress | None
    consumer: SubscriptionProgress | None

    @property
    def reconciled(self) -> bool:
        """Both reported, and what was sent is what was stored plus what expired, up to the same sequence number."""
        p, c = self.provider, self.consumer
        return p is not None and c is not None and p.last_seq == c.last_seq and p.count == c.count + p.expired


def report(db: Session, actor: Actor, subscription_id: str, *, side: str, count: int, last_seq: int,
           expired: int = 0) -> ProgressView:
    """One side's cumulative figures; returns the subscription's progress as it stands afterwards."""
    actor.require(ORG_ADMIN, CONNECTOR, to="report progress")
    if side not in SIDES:
        raise ValidationFailed("side", "side is provider (what was sent) or consumer (what was stored).")
    for field, value in (("count", count), ("lastSeq", last_seq), ("expired", expired)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FIGURE:
            raise ValidationFailed(field, f"{field} is a whole number from 0 to {MAX_FIGURE}.")
    if side == "consumer" and expired:
        raise ValidationFailed("expired", "Only the provider's deliveries expire; as the consumer, send expired 0 "
                                          "or leave it out.")
    sub = subscriptions.party_subscription(db, actor, subscription_id)  # locked: reports of it run one at a time
    require_own_side(actor, sub, side, "subscription")
    if sub.mode != "realtime":
        raise Conflict(f"This subscription is historical: report its transfer with POST "
                       f"/api/v1/transfers/{_transfer_id(db, sub)}/reports.")
    if sub.state not in REPORTING_STATES:
        raise Conflict(_not_reporting(sub.state))
    current = rows.locked(db, SubscriptionProgress, (sub.id, side))
    if current is not None and (last_seq < current.last_seq or count < current.count):
        db.rollback()  # stale: an older report that arrived late; the stored figures stand
        return progress_of(db, sub.id)
    figures = current or SubscriptionProgress(subscription_id=sub.id, side=side, count=count, last_seq=last_seq,
                                              expired=expired)
    figures.count, figures.last_seq, figures.expired, figures.reported_at = count, last_seq, expired, utcnow()
    db.add(figures)
    if sub.state == SubscriptionState.approved:
        lifecycle.move_subscription(db, actor, sub, SubscriptionState.active)
    db.commit()
    return progress_of(db, sub.id)


def progress_of(db: Session, subscription_id: str) -> ProgressView:
    """The progress of one subscription the caller may see already (no access check here)."""
    return _gather(db, [subscription_id]).get(subscription_id, ProgressView(None, None))


def progress_by_subscription(db: Session, views: Iterable[SubscriptionView]) -> dict[str, ProgressView]:
    """The progress of each real-time subscription among ``views`` (which the caller was allowed to read), in
    one query; historical ones are left out."""
    ids = [v.id for v in views if v.mode == "realtime"]
    found = _gather(db, ids)
    return {i: found.get(i, ProgressView(None, None)) for i in ids}


def _gather(db: Session, ids: list[str]) -> dict[str, ProgressView]:
    if not ids:
        return {}
    sides: dict[str, dict[str, SubscriptionProgress]] = {}
    for row in db.exec(select(SubscriptionProgress).where(col(SubscriptionProgress.subscription_id).in_(ids))):
        sides.setdefault(row.subscription_id, {})[row.side] = row
    return {i: ProgressView(s.get("provider"), s.get("consumer")) for i, s in sides.items()}


def _transfer_id(db: Session, sub: Subscription) -> str:
    newest = db.exec(select(TransferJob.id).where(TransferJob.subscription_id == sub.id)
                     .order_by(col(TransferJob.created_at).desc())).first()
    return newest or "{transferId}"


def _not_reporting(state: str) -> str:
    if state == SubscriptionState.requested:
        return "The subscription is requested: nothing flows before the provider approves it; report after approval."
    if state == SubscriptionState.rejected:
        return "The subscription was rejected: nothing was exchanged, so there is no progress to report."
    return f"The subscription is {state}; progress is reported for {', '.join(sorted(REPORTING_STATES))} ones."
