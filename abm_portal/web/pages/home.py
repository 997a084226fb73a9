"""The home page each role lands on after logging in: what needs the person's attention now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from abm_portal.services import attention
from abm_portal.web import views
from abm_portal.web.deps import DbSession, MaybeActor
from abm_portal.web.rendering import redirect, render
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)


@router.get("/")
def home(request: Request, db: DbSession, actor: MaybeActor) -> Response:
    if actor is None:
        return redirect("/login")
    if actor.org_id is None:  # a portal operator acts for no organisation: the portal's own state
        return render(request, "home_operator.html", {"nav": "home", **views.portal_attention(
            attention.for_operator(db))})
    return render(request, "home.html", {"nav": "home", "expiring_days": attention.EXPIRING_WITHIN.days,
                                         **views.organisation_attention(attention.for_organisation(db, actor), actor)})
