"""Subscriptions: request, decide, end, list; the grant that an approval yields; real-time progress reports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import WithJsonSchema
from sqlmodel import Session

from abm_portal.api.deps import CurrentActor, DbSession, SettingsDep
from abm_portal.api.problems import problem_responses
from abm_portal.api.schemas import (
    EndingBody,
    GrantCheckPublic,
    GrantPublic,
    GrantVerificationBody,
    ProgressPublic,
    ProgressReportBody,
    RejectionBody,
    SubscriptionBody,
    SubscriptionList,
    SubscriptionPublic,
    TransferPublic,
)
from abm_portal.metrics import metrics_of
from abm_portal.services import grants, lifecycle, progress, subscriptions, transfers
from abm_portal.services.actors import Actor
from abm_portal.services.subscriptions import SubscriptionView

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"], responses=problem_responses(401, 403, 422))


def _shown(db: Session, actor: Actor, views: list[SubscriptionView]) -> list[SubscriptionPublic]:
    """Each subscription with its newest transfer job (historical) or its progress (real-time)."""
    newest: dict[str, TransferPublic] = {}
    for job in transfers.list_transfers(db, actor):  # newest first
        newest.setdefault(job.subscription_id, TransferPublic.model_validate(job))
    reports = progress.progress_by_subscription(db, views)
    return [SubscriptionPublic.model_validate(v).model_copy(update={
        "transfer": newest.get(v.id),
        "progress": ProgressPublic.model_validate(reports[v.id]) if v.id in reports else None}) for v in views]


def _one(db: Session, actor: Actor, view: SubscriptionView) -> SubscriptionPublic:
    return _shown(db, actor, [view])[0]


@router.post("", status_code=201, summary="Ask for a subscription to a partner's asset",
             responses=problem_responses(400, 404))
def request_subscription(body: SubscriptionBody, response: Response, db: DbSession,
                         actor: CurrentActor) -> SubscriptionPublic:
    """Dates: ``validTo`` after ``validFrom``; a historical range in the past; a real-time range not wholly in
    the past. The provider's administrator then approves or rejects."""
    view = subscriptions.request_subscription(db, actor, asset_id=body.asset_id, mode=body.mode,
                                              valid_from=body.valid_from, valid_to=body.valid_to)
    response.headers["Location"] = f"/api/v1/subscriptions/{view.id}"
    return _one(db, actor, view)


@router.get("", summary="Your organisation's subscriptions")
def list_subscriptions(db: DbSession, actor: CurrentActor, role: Literal["provider", "consumer"] | None = None,
                       state: Annotated[str | None, Query(), WithJsonSchema(
                           {"type": "string", "enum": list(lifecycle.SUBSCRIPTION_STATES)})] = None
                       ) -> SubscriptionList:
    """As provider, as consumer, or both when ``role`` is left out; optionally in one ``state``."""
    return SubscriptionList(items=_shown(db, actor, subscriptions.list_subscriptions(db, actor, role=role,
                                                                                      state=state)))


@router.get("/{subscription_id}", summary="One subscription", responses=problem_responses(404))
def get_subscription(subscription_id: str, db: DbSession, actor: CurrentActor) -> SubscriptionPublic:
    return _one(db, actor, subscriptions.get_subscription(db, actor, subscription_id))


@router.post("/{subscription_id}/approve", summary="Approve a request (the provider's org admin)",
             responses=problem_responses(404, 409))
def approve(subscription_id: str, db: DbSession, actor: CurrentActor) -> SubscriptionPublic:
    """Both connectors may then fetch the grant; a historical subscription gets a pending transfer job."""
    return _one(db, actor, subscriptions.approve(db, actor, subscription_id))


@router.post("/{subscription_id}/reject", summary="Reject a request with a reason (the provider's org admin)",
             responses=problem_responses(400, 404, 409))
def reject(subscription_id: str, body: RejectionBody, db: DbSession, actor: CurrentActor) -> SubscriptionPublic:
    return _one(db, actor, subscriptions.reject(db, actor, subscription_id, reason=body.reason))


@router.post("/{subscription_id}/revoke", summary="Revoke an approved or active subscription (the provider's "
                                                  "org admin or connector)", responses=problem_responses(400, 404, 409))
def revoke(subscription_id: str, db: DbSession, actor: CurrentActor,
           body: EndingBody | None = None) -> SubscriptionPublic:
    """Its grant is refused from now on; the revocation feed and stream tell both connectors. The provider's
    connector revokes here what its operator revoked on its own side (`aadsys connector revoke`); revoking a
    revoked subscription again changes nothing."""
    return _one(db, actor, subscriptions.revoke(db, actor, subscription_id, reason=body.reason if body else None))


@router.post("/{subscription_id}/cancel", summary="Cancel a request or a subscription (the consumer)",
             responses=problem_responses(400, 404, 409))
def cancel(subscription_id: str, db: DbSession, actor: CurrentActor,
           body: EndingBody | None = None) -> SubscriptionPublic:
    return _one(db, actor, subscriptions.cancel(db, actor, subscription_id, reason=body.reason if body else None))


@router.get("/{subscription_id}/grant", summary="A fresh grant JWT (either party, once approved)",
            responses=problem_responses(404, 409))
def get_grant(subscription_id: str, request: Request, db: DbSession, actor: CurrentActor,
              settings: SettingsDep) -> GrantPublic:
    """Fetch again before ``expiresAt`` to keep a long real-time subscription going (grant refresh)."""
    issued = grants.issue_grant(db, actor, subscription_id, settings)
    metrics_of(request).grants_issued.inc()
    return GrantPublic(grant=issued.token, subscription_id=issued.subscription_id, not_before=issued.not_before,
                       expires_at=issued.expires_at)


@router.post("/{subscription_id}/verify", summary="Check a grant online", responses=problem_responses(400, 404))
def verify_grant(subscription_id: str, body: GrantVerificationBody, db: DbSession, actor: CurrentActor,
                 settings: SettingsDep) -> GrantCheckPublic:
    """``valid: false`` with a reason when the signature or lifetime fails, the grant names another
    subscription, or the subscription is no longer approved or active (revoked, cancelled, expired…).
    The provider's successful check makes an approved subscription active."""
    return GrantCheckPublic.model_validate(grants.verify_grant(db, actor, subscription_id, body.grant, settings))


@router.post("/{subscription_id}/progress", summary="Report what your side sent or stored (real-time)",
             responses=problem_responses(400, 404, 409))
def report_progress(subscription_id: str, body: ProgressReportBody, db: DbSession,
                    actor: CurrentActor) -> ProgressPublic:
    """Cumulative figures: the provider's connector reports what it sent, the consumer's what it stored. A report
    with a lower ``count`` or ``lastSeq`` than the last one is stale and ignored; the answer is always the current
    progress. Also after the subscription ended (figures held back by a portal outage); historical subscriptions
    report with ``POST /api/v1/transfers/{id}/reports`` instead."""
    return ProgressPublic.model_validate(progress.report(db, actor, subscription_id, side=body.side,
                                                         count=body.count, last_seq=body.last_seq,
                                                         expired=body.expired))
