"""Liveness with a database round trip, and the Prometheus exposition for the metrics bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.responses import Response

from abm_portal.api.deps import Context, DbSession
from abm_portal.api.problems import PROBLEM_JSON, problem
from abm_portal.api.schemas import Health
from abm_portal.metrics import Access, bearer_access

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The portal and its database answer")
def healthz(db: DbSession) -> Health:
    db.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return Health(status="ok")


@router.get("/metrics", summary="Prometheus metrics (the metrics bearer token)", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "The Prometheus text exposition"},
                       401: {"description": "No bearer token, or not the metrics token",
                             "content": {PROBLEM_JSON: {"schema": {"type": "object"}}}},
                       403: {"description": "No metrics token is configured, so /metrics is closed",
                             "content": {PROBLEM_JSON: {"schema": {"type": "object"}}}}})
def metrics(request: Request, ctx: Context, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Every figure of the portal, summed over its workers. Send ``Authorization: Bearer <token>`` with the first
    line of the metrics token file (the same file Prometheus reads as ``authorization.credentials_file``)."""
    access = bearer_access(authorization, ctx.settings.resolved_metrics_token_file)
    if access is Access.NOT_CONFIGURED:
        return problem(request, 403, "metrics-disabled", "Metrics are not configured",
                       "/metrics needs a bearer token and the portal has none: write a random token to the file of "
                       "the metrics_token_file setting (ABM_PORTAL_METRICS_TOKEN_FILE, default "
                       "<data-dir>/metrics-token, mode 0600) and give Prometheus the same file")
    if access is Access.REFUSED:
        return problem(request, 401, "metrics-token-required", "Metrics token required",
                       "send the metrics token as 'Authorization: Bearer <token>' (Prometheus: "
                       "authorization.credentials_file in the scrape config)",
                       {"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
