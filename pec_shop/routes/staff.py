"""Staff pages: the sales report of a time frame, as HTML and as a PDF download (HTTP Basic, user ``staff``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from pec_shop import report
from pec_shop.problems import problem
from pec_shop.routes.deps import ShopDep
from pec_shop.shop import Shop
from pec_shop.staff import Staff

router = APIRouter(prefix="/staff", include_in_schema=False)
From = Annotated[str | None, Query(alias="from")]
To = Annotated[str | None, Query(alias="to")]


@router.get("/report", response_class=HTMLResponse)
async def sales_report(request: Request, shop: ShopDep, _: Staff, start: From = None, end: To = None) -> Response:
    """``from``/``to``: ISO dates (``to`` inclusive) or datetimes, UTC; default the last 7 days."""
    built = await _report(request, shop, start, end)
    if isinstance(built, Response):
        return built
    return HTMLResponse(report.html(built, pdf_link=f"/staff/report.pdf?{request.url.query}"),
                        headers={"Cache-Control": "no-store"})


@router.get("/report.pdf")
async def sales_report_pdf(request: Request, shop: ShopDep, _: Staff, start: From = None, end: To = None) -> Response:
    built = await _report(request, shop, start, end)
    if isinstance(built, Response):
        return built
    name = f"sales-report-{built.start:%Y%m%d}-{built.end:%Y%m%d}.pdf"
    return Response(await asyncio.to_thread(report.pdf, built), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


async def _report(request: Request, shop: Shop, start: str | None, end: str | None) -> report.SalesReport | Response:
    try:
        frame = report.parse_range(start, end)
    except report.RangeInvalid as exc:
        return problem(request, 400, "invalid-range", "Invalid time frame", exc.message,
                       errors=[{"field": exc.field, "message": exc.message}])

    def build() -> report.SalesReport:
        with shop.db.session() as session:
            return report.build(session, *frame)

    return await asyncio.to_thread(build)
