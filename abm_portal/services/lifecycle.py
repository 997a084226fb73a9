"""The state machines of DESIGN §6, each as ONE explicit transition table, and the one function per machine that
moves a row along it. Every state change of a subscription or a transfer job goes through here, so every one
is checked against its table, stamped, and written to the audit trail in the same transaction.

Subscription::

    requested ─┬─> approved ─┬─> active ─┬─> completed   (historical: the transfer job completed)
               ├─> rejected  ├─> revoked ├─> expired     (real-time: validTo passed)
               └─> cancelled ├─> expired ├─> revoked     (the provider ended it)
                             └─> cancelled └─> cancelled (the consumer ended it)

An approved subscription becomes ``active`` when it is first used: the provider's connector verifies the
grant online within the window, or a transfer report or a real-time progress report arrives.

Transfer job (historical mode)::

    pending ─> running ─> provider_sent ─> completed
       └──────────┴────────────┴─────────> failed (with a reason)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, select

from abm_portal.clock import as_utc, utcnow
from abm_portal.errors import InvalidTransition
from abm_portal.models import Revocation, Subscription, TransferJob
from abm_portal.services import audit, revocations
from abm_portal.services.actors import Actor


class SubscriptionState(StrEnum):
    """Stored as its value (a str column): the enum compares equal to the text in the database."""

    requested = "requested"
    approved = "approved"
    active = "active"
    rejected = "rejected"
    cancelled = "cancelled"
    revoked = "revoked"
    expired = "expired"
    completed = "completed"


class TransferState(StrEnum):
    pending = "pending"
    running = "running"
    provider_sent = "provider_sent"
    completed = "completed"
    failed = "failed"


S, T = SubscriptionState, TransferState
SUBSCRIPTION_TRANSITIONS: Mapping[str, frozenset[SubscriptionState]] = {
    S.requested: frozenset({S.approved, S.rejected, S.cancelled}),
    S.approved: frozenset({S.active, S.revoked, S.expired, S.cancelled}),
    S.active: frozenset({S.completed, S.expired, S.revoked, S.cancelled}),
    S.rejected: frozenset(),
    S.cancelled: frozenset(),
    S.revoked: frozenset(),
    S.expired: frozenset(),
    S.completed: frozenset(),
}
TRANSFER_TRANSITIONS: Mapping[str, frozenset[TransferState]] = {
    T.pending: frozenset({T.running, T.failed}),
    T.running: frozenset({T.provider_sent, T.failed}),
    T.provider_sent: frozenset({T.completed, T.failed}),
    T.completed: frozenset(),
    T.failed: frozenset(),
}
SUBSCRIPTION_STATES = tuple(SubscriptionState)
TRANSFER_STATES = tuple(TransferState)
# A grant is issued and honoured only in these states.
GRANT_STATES = frozenset({S.approved, S.active})
OPEN_TRANSFER_STATES = frozenset(s for s, targets in TRANSFER_TRANSITIONS.items() if targets)


def allows(current: str, target: SubscriptionState) -> bool:
    """Whether the table lets a subscription in ``current`` move to ``target``: the UI offers what this allows."""
    return target in SUBSCRIPTION_TRANSITIONS.get(current, frozenset())
MAX_EXPIRED_PER_SWEEP = 500
WINDOW_ENDED = "The subscription's window ended."


def check_transition(table: Mapping[str, frozenset[SubscriptionState]] | Mapping[str, frozenset[TransferState]],
                     entity: str, current: str, target: str) -> None:
    if target not in table.get(current, frozenset()):
        raise InvalidTransition(entity, current, target)


def move_subscription(db: Session, actor: Actor | str, sub: Subscription, target: str, *,
                      reason: str | None = None) -> None:
    """Change ``sub`` to ``target`` if the table allows it; the caller commits.

    Leaving a grant state for a final one also publishes a revocation (connectors drop the channel: the stream
    wakes when the caller commits) and fails any transfer job still open.
    """
    check_transition(SUBSCRIPTION_TRANSITIONS, "subscription", sub.state, target)
    before, now = sub.state, utcnow()
    sub.state, sub.updated_at = target, now
    if reason is not None:
        sub.reason = reason
    db.add(sub)
    audit.record(db, actor, f"subscription.{target}", f"subscription {sub.id}", org_id=sub.provider_org_id,
                 partner_org_id=sub.consumer_org_id, before=before, after=target,
                 detail={"reason": reason} if reason else None)
    if before in GRANT_STATES and not SUBSCRIPTION_TRANSITIONS[target]:
        db.add(Revocation(at=now, subscription_id=sub.id, provider_org_id=sub.provider_org_id,
                          consumer_org_id=sub.consumer_org_id, state=target, reason=reason))
        revocations.written(db)
        for job in db.exec(select(TransferJob).where(TransferJob.subscription_id == sub.id,
                                                     col(TransferJob.state).in_(OPEN_TRANSFER_STATES))).all():
            move_transfer(db, actor, job, sub, T.failed, reason=f"The subscription was {target}.")


def move_transfer(db: Session, actor: Actor | str, job: TransferJob, sub: Subscription, target: str, *,
                  reason: str | None = None) -> None:
    """Change ``job`` to ``target`` if the table allows it; the caller commits."""
    check_transition(TRANSFER_TRANSITIONS, "transfer", job.state, target)
    before = job.state
    job.state, job.updated_at = target, utcnow()
    if reason is not None:
        job.reason = reason
    db.add(job)
    audit.record(db, actor, f"transfer.{target}", f"transfer {job.id}", org_id=sub.provider_org_id,
                 partner_org_id=sub.consumer_org_id, before=before, after=target,
                 detail={"subscription": sub.id, **({"reason": reason} if reason else {})})


def due_for_expiry(now: datetime) -> ColumnElement[bool]:
    """Real-time subscriptions in a grant state whose window has closed (a SQL condition)."""
    return and_(col(Subscription.mode) == "realtime", col(Subscription.state).in_(GRANT_STATES),
                col(Subscription.valid_to) <= now)


def effective_state(mode: str, state: str, valid_to: datetime, now: datetime) -> str:
    """The state a reader sees: a closed real-time window reads as ``expired`` before the sweep records it."""
    if mode == "realtime" and state in GRANT_STATES and as_utc(valid_to) <= now:
        return S.expired
    return state


def expire_if_due(db: Session, sub: Subscription) -> None:
    """Before a change to ``sub``: record its expiry if its window has closed, so the change starts from there."""
    if effective_state(sub.mode, sub.state, sub.valid_to, utcnow()) != sub.state:
        move_subscription(db, audit.SYSTEM_ACTOR, sub, S.expired, reason=WINDOW_ENDED)


def expire_due(db: Session) -> int:
    """Real-time subscriptions whose window has closed become ``expired`` (DESIGN §5); returns how many.

    The portal's sweep runs this every ``expiry_sweep_seconds``; reads never write, they show the effective state
    (``effective_state``). Rows another transaction holds are skipped: that one is changing them already.
    """
    due = db.exec(select(Subscription).where(due_for_expiry(utcnow()))
                  .limit(MAX_EXPIRED_PER_SWEEP).with_for_update(skip_locked=True)).all()
    for sub in due:
        move_subscription(db, audit.SYSTEM_ACTOR, sub, S.expired, reason=WINDOW_ENDED)
    if due:
        db.commit()
    return len(due)

