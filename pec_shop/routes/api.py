"""JSON endpoints: ``GET /api/orders/{token}``, ``GET /healthz``, ``GET /metrics``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from pec_shop.orders import OrderNotFound, find_order, order_json
from pec_shop.problems import problem
from pec_shop.routes.deps import ShopDep
from pec_shop.shop import Shop

router = APIRouter()


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics(shop: ShopDep) -> Response:
    return Response(generate_latest(shop.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/orders/{token}", tags=["orders"], response_model=None)
async def order_api(token: str, request: Request, shop: ShopDep) -> Response:
    """The order, its delivery to the AAdSys and its production status; the token is the only authorisation."""
    view = await asyncio.to_thread(load_order_json, shop, token)
    if view is None:
        return problem(request, 404, "order-not-found", "No such order",
                       "No order has this token; use the whole link from the order confirmation")
    return JSONResponse(view)


def load_order_json(shop: Shop, token: str) -> dict[str, Any] | None:
    with shop.db.session() as session:
        try:
            return order_json(session, find_order(session, token), token)
        except OrderNotFound:
            return None
