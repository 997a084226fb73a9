"""The organisation's audit trail, filtered by date."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from abm_portal.services import audit_names
from abm_portal.web import views
from abm_portal.web.deps import CurrentActor, DbSession
from abm_portal.web.forms import FieldErrors, day_end, day_start, parse_day
from abm_portal.web.rendering import render
from abm_portal.web.routing import PageRoute

router = APIRouter(route_class=PageRoute)


@router.get("/audit")
def audit_log(request: Request, db: DbSession, actor: CurrentActor, from_: str = Query("", alias="from"),
              to: str = "") -> Response:
    filters = {"from": from_.strip(), "to": to.strip()}
    errors: FieldErrors = {}
    start: datetime | None = None
    end: datetime | None = None
    if filters["from"]:
        try:
            start = day_start(parse_day(filters["from"]))
        except ValueError:
            errors["from"] = "Enter the “from” date as YYYY-MM-DD."
    if filters["to"]:
        try:
            end = day_end(parse_day(filters["to"]))
        except ValueError:
            errors["to"] = "Enter the “to” date as YYYY-MM-DD."
    if start and end and end <= start:
        errors["to"] = "The “to” date must not be before the “from” date."
    entries = [] if errors else [views.audit_entry(e) for e in audit_names.named_audit(db, actor, start, end)]
    return render(request, "audit.html", {"nav": "audit", "filters": filters, "errors": errors, "entries": entries},
                  status_code=422 if errors else 200)
