"""The operator page (``GET /``) and its live feed (``GET /events``, Server-Sent Events of line snapshots)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from omis_line import oee, report, views
from omis_line.clock import iso
from omis_line.config import STATIONS
from omis_line.web.auth import Operator
from omis_line.web.problems import ProblemError
from omis_line.web.runtime import Runtime
from omis_line.web.templating import templates
from omis_line.web.window import WindowInvalid, parse_window

router = APIRouter(tags=["pages"])
SNAPSHOT_MIN_INTERVAL = 0.25  # seconds; a busy line would otherwise send a snapshot per bottle move


def _runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


def snapshot(rt: Runtime, start: datetime, end: datetime) -> dict[str, Any]:
    """What the operator page shows: stations now, the queue, recent orders, OEE over the window."""
    with rt.database.session() as session:
        figures = oee.measure(session, start, end, rt.settings.ideal_cycle_seconds)
        recent = views.orders(session, 20)
        waiting = views.queue(session)
    stations = []
    for name in STATIONS:
        occupant = rt.line.occupancy.get(name)
        stations.append({"station": name, "rfidTag": occupant.rfid_tag if occupant else None,
                         "salesOrder": occupant.sales_order_id if occupant else None,
                         "productionOrder": occupant.production_order_id if occupant else None,
                         "since": iso(occupant.since) if occupant else None})
    return {"stations": stations, "queue": waiting, "orders": recent, "oee": figures,
            "aadsysConnected": rt.follower.connected}


@router.get("/", response_class=HTMLResponse, summary="Operator page")
def operator_page(request: Request, _: Operator) -> HTMLResponse:
    params = request.query_params
    typed = {k: params.get(k, "") for k in ("from", "to", "minutes")}
    errors: dict[str, str] = {}
    try:
        start, end = parse_window(typed["from"], typed["to"], typed["minutes"])
    except WindowInvalid as exc:
        errors = exc.errors
        start, end = parse_window(None, None)
    context = {"typed": typed, "errors": errors, "snap": snapshot(_runtime(request), start, end),
               "events_query": str(request.url.query)}
    return templates.TemplateResponse(request, "index.html", context, status_code=422 if errors else 200)


@router.get("/report", response_class=HTMLResponse, summary="Production report of a time frame (HTML)")
def production_report(request: Request, _: Operator, start: Annotated[str | None, Query(alias="from")] = None,
                      end: Annotated[str | None, Query(alias="to")] = None) -> HTMLResponse:
    """``from``/``to``: ISO dates (``to`` inclusive) or datetimes; default the last 7 days."""
    built = _report(request, start, end)
    return HTMLResponse(report.html(built, pdf_link=f"/report.pdf?{request.url.query}"))


@router.get("/report.pdf", summary="Production report of a time frame (PDF)")
def production_report_pdf(request: Request, _: Operator, start: Annotated[str | None, Query(alias="from")] = None,
                          end: Annotated[str | None, Query(alias="to")] = None) -> Response:
    built = _report(request, start, end)
    name = f"production-report-{built.start:%Y%m%d}-{built.end:%Y%m%d}.pdf"
    return Response(report.pdf(built), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _report(request: Request, start: str | None, end: str | None) -> report.ProductionReport:
    try:
        start_at, end_at = report.parse_range(start, end)
    except report.RangeInvalid as exc:
        raise ProblemError(400, "invalid-range", "Invalid time frame", exc.message,
                           errors=[{"field": exc.field, "message": exc.message}]) from None
    rt = _runtime(request)
    with rt.database.session() as session:
        return report.build(session, start_at, end_at, rt.settings.ideal_cycle_seconds)


@router.get("/events", response_class=EventSourceResponse, summary="Live line snapshots (SSE)")
async def line_events(request: Request, _: Operator) -> AsyncIterator[ServerSentEvent]:
    rt = _runtime(request)
    params = request.query_params
    try:
        parse_window(params.get("from"), params.get("to"), params.get("minutes"))
        fixed = bool(params.get("to"))
    except WindowInvalid:
        params, fixed = type(params)(), False
    while not await request.is_disconnected():
        # a window without 'to' slides with the clock, as the page's default "last N minutes" does
        start, end = parse_window(params.get("from"), params.get("to") if fixed else None, params.get("minutes"))
        snap = snapshot(rt, start, end)
        live = templates.get_template("_live.html").render(snap=snap)
        yield ServerSentEvent(event="snapshot", data={"stations": snap["stations"], "oee": snap["oee"],
                                                      "html": live})
        await rt.line.changed(timeout=5.0)
        await asyncio.sleep(SNAPSHOT_MIN_INTERVAL)
