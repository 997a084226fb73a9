"""Liveness (``/healthz``), readiness (``/readyz``), and the Prometheus exposition for the metrics bearer token.

A load balancer or an orchestrator restarts a worker whose ``/healthz`` fails and sends no traffic to one whose
``/readyz`` fails (``abm_portal.readiness``); a worker waiting for its database is alive but not ready.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import JSONResponse, Response

from abm_portal.api.deps import Context
from abm_portal.api.problems import PROBLEM_JSON, PROBLEM_SCHEMA, problem
from abm_portal.api.schemas import Health
from abm_portal.metrics import Access, bearer_access
from abm_portal.readiness import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers (liveness; the database is /readyz's)")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="The database answers and its schema is current (readiness)",
            response_description="Ready: every check passed",
            responses={503: {"description": "Not ready: the database does not answer, or its schema is not at "
                                            "the revision this portal needs; the detail says what to fix",
                             "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}})
def readyz(request: Request, ctx: Context) -> Response:
    found = readiness(ctx.database)
    if not found.ready:
        return problem(request, 503, "not-ready", "Not ready", " ".join(found.problems), {"Cache-Control": "no-store"},
                       checks=found.checks)
    return JSONResponse({"status": "ready", "checks": found.checks}, headers={"Cache-Control": "no-store"})


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
