"""The JSON API: orders, RFID trace, OEE and the printed label images. Every route needs the operator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from omis_line import oee, views
from omis_line.models import LabelImage, SalesOrder
from omis_line.web.auth import Operator
from omis_line.web.problems import ProblemError
from omis_line.web.runtime import Runtime
from omis_line.web.window import WindowInvalid, moment, parse_window

router = APIRouter(prefix="/api", tags=["line"])


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


@router.get("/orders", summary="Sales Orders the ERP took, newest first")
def list_orders(request: Request, _: Operator,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    with runtime(request).database.session() as session:
        return {"items": views.orders(session, limit)}


@router.get("/orders/{order_id}", summary="One Sales Order with its production orders, BOM and bottles")
def get_order(request: Request, order_id: str, _: Operator) -> dict[str, Any]:
    with runtime(request).database.session() as session:
        row = session.get(SalesOrder, order_id)
        if row is None:
            raise ProblemError(404, "order-not-found", "Order not found",
                               f"No Sales Order '{order_id}' has reached the line; check the orderId "
                               "(GET /api/orders lists them).")
        return views.order(session, row)


@router.get("/trace", summary="RFID trace passes, ordered by entered")
def get_trace(request: Request, _: Operator, order: str | None = None,
              start: Annotated[str | None, Query(alias="from")] = None,
              end: Annotated[str | None, Query(alias="to")] = None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    start_at, end_at = moment("from", start, errors), moment("to", end, errors)
    if not errors and order is None and start_at is None and end_at is None:
        errors["order"] = "give order=<orderId>, or a time range from=/to= (ISO 8601), or both"
    if start_at and end_at and start_at > end_at:
        errors["from"] = "from must not be after to"
    if errors:
        raise _bad_query(errors)
    with runtime(request).database.session() as session:
        return {"items": views.trace(session, order_id=order, start=start_at, end=end_at)}


@router.get("/oee", summary="Availability, performance, quality and OEE over [from, to] (default last 15 min)")
def get_oee(request: Request, _: Operator, start: Annotated[str | None, Query(alias="from")] = None,
            end: Annotated[str | None, Query(alias="to")] = None, minutes: str | None = None) -> dict[str, Any]:
    try:
        start_at, end_at = parse_window(start, end, minutes)
    except WindowInvalid as exc:
        raise _bad_query(exc.errors) from None
    rt = runtime(request)
    with rt.database.session() as session:
        return oee.measure(session, start_at, end_at, rt.settings.ideal_cycle_seconds)


@router.get("/labels/{sha256}", summary="A stored label image: what the printer printed",
            response_class=Response)
def get_label(request: Request, sha256: str, _: Operator) -> Response:
    with runtime(request).database.session() as session:
        image = session.get(LabelImage, sha256.lower())
        if image is None:
            raise ProblemError(404, "label-not-found", "Label image not found",
                               f"No label image with SHA-256 {sha256} is stored; the labelImage.sha256 of an "
                               "order's production order names one that is.")
        return Response(image.data, media_type=image.content_type, headers={"ETag": f'"{image.sha256}"'})


def _bad_query(errors: dict[str, str]) -> ProblemError:
    detail = "; ".join(f"{field}: {message}" for field, message in errors.items())
    return ProblemError(400, "invalid-query", "Invalid query parameters", detail,
                        errors=[{"field": f, "message": m} for f, m in errors.items()])
