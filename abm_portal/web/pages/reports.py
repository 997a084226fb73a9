"""The organisation administrator's report of a time frame, as a page and as a PDF download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from abm_portal import reports
from abm_portal.api.problems import problem
from abm_portal.errors import Forbidden
from abm_portal.models import Organisation
from abm_portal.services.actors import ORG_ADMIN, Actor
from abm_portal.web.deps import CurrentActor, DbSession
from abm_portal.web.routing import SECURITY_HEADERS, PageRoute

router = APIRouter(route_class=PageRoute)
From = Annotated[str | None, Query(alias="from")]
To = Annotated[str | None, Query(alias="to")]
# The report is one self-contained document (the same HTML makes the PDF and the CLI's file): its <style> and the
# charts' style attributes (matplotlib's SVG) are inline, which the other pages' policy refuses.
REPORT_POLICY = {"Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"]
                 + "; style-src 'self' 'unsafe-inline'"}


@router.get("/reports/organisation")
def organisation_report(request: Request, db: DbSession, actor: CurrentActor, start: From = None,
                        end: To = None) -> Response:
    """``from``/``to``: ISO dates (``to`` inclusive) or datetimes, UTC; default the last 7 days."""
    built = _report(request, db, actor, start, end)
    if isinstance(built, Response):
        return built
    return HTMLResponse(reports.html(built, pdf_link=f"/reports/organisation.pdf?{request.url.query}"),
                        headers=REPORT_POLICY)


@router.get("/reports/organisation.pdf")
def organisation_report_pdf(request: Request, db: DbSession, actor: CurrentActor, start: From = None,
                            end: To = None) -> Response:
    built = _report(request, db, actor, start, end)
    if isinstance(built, Response):
        return built
    name = f"portal-report-{built.start:%Y%m%d}-{built.end:%Y%m%d}.pdf"
    return Response(reports.pdf(built), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _report(request: Request, db: DbSession, actor: Actor, start: str | None,
            end: str | None) -> reports.OrganisationReport | Response:
    if actor.role != ORG_ADMIN:
        raise Forbidden("Only an administrator of your organisation can see its report.")
    try:
        frame = reports.parse_range(start, end)
    except reports.RangeInvalid as exc:
        return problem(request, 400, "invalid-range", "Invalid time frame", exc.message,
                       errors=[{"field": exc.field, "message": exc.message}])
    org = db.get(Organisation, actor.own_org())
    assert org is not None
    return reports.build(db, org, *frame)
