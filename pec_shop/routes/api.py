"""JSON endpoints: ``GET /api/orders/{token}``, ``GET /healthz``, ``GET /metrics``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from pec_shop.metrics import Access, bearer_access
from pec_shop.orders import OrderNotFound, find_order, order_json
from pec_shop.problems import problem
from pec_shop.routes.deps import ShopDep
from pec_shop.shop import Shop

router = APIRouter()


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", tags=["health"], response_class=Response)
def metrics(request: Request, shop: ShopDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    """The Prometheus exposition, for ``Authorization: Bearer <the metrics token>`` only (pec_shop/README.md)."""
    access = bearer_access(authorization, shop.settings.resolved_metrics_token_file)
    if access is Access.NOT_CONFIGURED:
        return problem(request, 403, "metrics-disabled", "Metrics are not configured",
                       "/metrics needs a bearer token and the shop has none: write a random token to the file of "
                       "the metrics_token_file setting (PEC_SHOP_METRICS_TOKEN_FILE, default "
                       "<data-dir>/metrics-token, mode 0600) and give Prometheus the same file")
    if access is Access.REFUSED:
        response = problem(request, 401, "metrics-token-required", "Metrics token required",
                           "send the metrics token as 'Authorization: Bearer <token>' (Prometheus: "
                           "authorization.credentials_file in the scrape config)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return Response(shop.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


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
