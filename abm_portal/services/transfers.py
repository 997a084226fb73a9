"""Historical transfer jobs (DESIGN §5.5): both connectors report; the job completes only when they agree.

The provider reports what it sent (``count`` instances, ``digest`` over them), the consumer what it stored.
The first report starts the job (``pending → running``) and the subscription (``approved → active``). The
provider's report moves it to ``provider_sent``. When both are in, equal counts and digests complete the job
and the subscription; a difference fails the job, with a reason that names both sides' figures. Reporting
the same figures again is harmless; different figures for a side that has reported are a ``Conflict``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, or_, select

from abm_portal.clock import utcnow
from abm_portal.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from abm_portal.models import Subscription, TransferJob
from abm_portal.services import lifecycle, rows
from abm_portal.services.actors import CONNECTOR, ORG_ADMIN, Actor
from abm_portal.services.lifecycle import SubscriptionState, TransferState

SIDES = ("provider", "consumer")
MAX_COUNT = 10**12
MAX_DIGEST = 200
MAX_LISTED = 500


def require_own_side(actor: Actor, sub: Subscription, side: str, what: str) -> None:
    """A party reports only its own side of a subscription: the provider what it sent, the consumer what it stored."""
    if actor.org_id != getattr(sub, f"{side}_org_id"):
        mine = "provider" if actor.org_id == sub.provider_org_id else "consumer"
        raise Forbidden(f"Your organisation is the {mine} of this {what}; report side {mine}.")


def list_transfers(db: Session, actor: Actor) -> Sequence[TransferJob]:
    """Transfer jobs of the subscriptions the actor's organisation is a party of, newest first."""
    org_id = actor.own_org()
    return db.exec(select(TransferJob).join(Subscription, col(Subscription.id) == TransferJob.subscription_id)
                   .where(or_(col(Subscription.provider_org_id) == org_id,
                              col(Subscription.consumer_org_id) == org_id))
                   .order_by(col(TransferJob.created_at).desc()).limit(MAX_LISTED)).all()


def get_transfer(db: Session, actor: Actor, transfer_id: str) -> TransferJob:
    job, _ = _party_job(db, actor, transfer_id, lock=False)
    return job


def report(db: Session, actor: Actor, transfer_id: str, *, side: str, count: int, digest: str) -> TransferJob:
    """One side's final figures for a historical transfer."""
    actor.require(ORG_ADMIN, CONNECTOR, to="report transfers")
    if side not in SIDES:
        raise ValidationFailed("side", "side is provider (what was sent) or consumer (what was stored).")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
        raise ValidationFailed("count", "count is the number of instances, a whole number from 0.")
    digest = digest.strip()
    if not digest or len(digest) > MAX_DIGEST:
        raise ValidationFailed("digest", f"digest is the transfer's digest, 1 to {MAX_DIGEST} characters.")
    job, sub = _party_job(db, actor, transfer_id, lock=True)
    require_own_side(actor, sub, side, "transfer")
    reported = (getattr(job, f"{side}_count"), getattr(job, f"{side}_digest"))
    if reported != (None, None):
        if reported == (count, digest):
            return job  # the same report again, e.g. a retry after a lost response
        raise Conflict(f"The {side} reported {reported[0]} instances (digest {reported[1]}) already; a report "
                       "is final.", field="count")
    if job.state not in lifecycle.OPEN_TRANSFER_STATES:
        raise InvalidTransition("transfer", job.state, TransferState.running, f"The transfer is {job.state} already.")
    if job.state == TransferState.pending:
        lifecycle.move_transfer(db, actor, job, sub, TransferState.running)
    if sub.state == SubscriptionState.approved:
        lifecycle.move_subscription(db, actor, sub, SubscriptionState.active)
    setattr(job, f"{side}_count", count)
    setattr(job, f"{side}_digest", digest)
    if side == "provider":
        job.expected_count = count
        lifecycle.move_transfer(db, actor, job, sub, TransferState.provider_sent)
    if job.provider_count is not None and job.consumer_count is not None:
        _settle(db, actor, job, sub)
    job.updated_at = utcnow()
    db.add(job)
    db.commit()
    return job


def _settle(db: Session, actor: Actor, job: TransferJob, sub: Subscription) -> None:
    if (job.provider_count, job.provider_digest) == (job.consumer_count, job.consumer_digest):
        lifecycle.move_transfer(db, actor, job, sub, TransferState.completed)
        lifecycle.move_subscription(db, actor, sub, SubscriptionState.completed)
        return
    differences = []
    if job.provider_count != job.consumer_count:
        differences.append(f"the provider sent {job.provider_count} instances, the consumer stored "
                           f"{job.consumer_count}")
    if job.provider_digest != job.consumer_digest:
        differences.append(f"the digests differ (provider {job.provider_digest}, consumer {job.consumer_digest})")
    lifecycle.move_transfer(db, actor, job, sub, TransferState.failed,
                            reason="Reports disagree: " + "; ".join(differences) + ".")


def _party_job(db: Session, actor: Actor, transfer_id: str, *, lock: bool) -> tuple[TransferJob, Subscription]:
    """The job and its subscription, if the actor's organisation is a party; with ``lock``, both locked in the
    order every change takes them (subscription first, then job), so concurrent changes cannot deadlock."""
    org_id = actor.own_org()
    job = db.get(TransferJob, transfer_id)
    sub = db.get(Subscription, job.subscription_id) if job else None
    if job is None or sub is None or org_id not in (sub.provider_org_id, sub.consumer_org_id):
        raise NotFound("There is no such transfer among your organisation's.")
    if lock:
        sub = rows.locked(db, Subscription, sub.id) or sub
        job = rows.locked(db, TransferJob, job.id) or job
    return job, sub
