"""The provider's approval queue, and my subscriptions as consumer and provider, with transfer jobs and real-time
progress (and a live JSON fingerprint)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, Response

from abm_portal.clock import utcnow
from abm_portal.errors import InvalidTransition, ValidationFailed
from abm_portal.services import progress, subscriptions, transfers
from abm_portal.services.actors import Actor
from abm_portal.services.lifecycle import SubscriptionState
from abm_portal.web import views
from abm_portal.web.deps import CurrentActor, DbSession
from abm_portal.web.flash import flash
from abm_portal.web.identity import safe_next
from abm_portal.web.rendering import redirect, render
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)
FormText = Annotated[str, Form()]


def _rows(db: Any, actor: Actor) -> dict[str, list[dict[str, Any]]]:
    jobs = views.transfers_by_subscription(transfers.list_transfers(db, actor))
    listed = {role: subscriptions.list_subscriptions(db, actor, role=role, state=None)
              for role in ("consumer", "provider")}
    reports = progress.progress_by_subscription(db, [s for subs in listed.values() for s in subs])
    return {role: [views.subscription(s, jobs.get(views.id_of(s)), role, reports.get(views.id_of(s)))
                   for s in subs]
            for role, subs in listed.items()}


def _version(rows: dict[str, list[dict[str, Any]]]) -> str:
    """Changes whenever anything the subscriptions page shows changes."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:16]


@router.get("/subscriptions")
def my_subscriptions(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    rows = _rows(db, actor)
    return render(request, "subscriptions.html", {"nav": "subscriptions", "as_consumer": rows["consumer"],
                                                  "as_provider": rows["provider"], "version": _version(rows),
                                                  "updated_at": utcnow()})


@router.get("/subscriptions/live.json")
def subscriptions_version(db: DbSession, actor: CurrentActor) -> Response:
    return JSONResponse({"version": _version(_rows(db, actor))})


@router.get("/approvals")
def approval_queue(request: Request, db: DbSession, actor: CurrentActor) -> Response:
    pending = [views.subscription(s, None, "provider")
               for s in subscriptions.list_subscriptions(db, actor, role="provider",
                                                       state=SubscriptionState.requested)]
    return render(request, "approvals.html", {"nav": "approvals", "requests": pending})


@router.post("/subscriptions/{subscription_id}/approve")
def approve(request: Request, db: DbSession, actor: CurrentActor, subscription_id: str) -> Response:
    return _decide(request, "/approvals", "Approved. The consumer's connector can now fetch its grant.",
                   lambda: subscriptions.approve(db, actor, subscription_id))


@router.post("/subscriptions/{subscription_id}/reject")
def reject(request: Request, db: DbSession, actor: CurrentActor, subscription_id: str,
           reason: FormText = "") -> Response:
    if not reason.strip():
        flash(request, "error", "Give a reason when you reject a request; the consumer sees it.")
        return redirect("/approvals")
    return _decide(request, "/approvals", "Rejected. The consumer sees your reason.",
                   lambda: subscriptions.reject(db, actor, subscription_id, reason=reason.strip()))


@router.post("/subscriptions/{subscription_id}/revoke")
def revoke(request: Request, db: DbSession, actor: CurrentActor, subscription_id: str) -> Response:
    return _decide(request, "/subscriptions", "Revoked. Connectors are refused from now on.",
                   lambda: subscriptions.revoke(db, actor, subscription_id))


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel(request: Request, db: DbSession, actor: CurrentActor, subscription_id: str,
           next: FormText = "") -> Response:
    return _decide(request, safe_next(next, "/subscriptions"), "Cancelled.",
                   lambda: subscriptions.cancel(db, actor, subscription_id))


def _decide(request: Request, back: str, done: str, action: Any) -> Response:
    """Run one state transition; a refused one (decided already, wrong state) comes back as a message."""
    try:
        action()
    except (InvalidTransition, ValidationFailed) as exc:
        flash(request, "error", f"Not done: {exc}")
    else:
        flash(request, "success", done)
    return redirect(back)
