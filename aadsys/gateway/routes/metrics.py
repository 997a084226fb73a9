"""``GET /metrics``: the Prometheus exposition, for a bearer token only (docs: deploy/prometheus/README.md).

Why a token and not a loopback listener: Prometheus usually runs on another host than a company's AAdSys, and
``aadsys serve --workers N`` has one listener shared by all workers; a token works through both, and Prometheus
sends it with the ``authorization`` scrape setting (``credentials_file``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from aadsys.gateway.deps import ContextDep
from aadsys.gateway.problems import ProblemError, problem_responses
from aadsys.metrics import Access, bearer_access

router = APIRouter(tags=["operations"])
CHALLENGE = 'Bearer realm="metrics"'


@router.get("/metrics", summary="Prometheus metrics (bearer token)", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "The Prometheus text exposition"},
                       **problem_responses(401, 403, s401="No bearer token, or not the metrics token",
                                           s403="No metrics token is configured, so /metrics is closed")})
def metrics(ctx: ContextDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Every figure of this AAdSys and its extensions, summed over its worker processes (multiprocess mode).
    Send ``Authorization: Bearer <token>`` with the first line of the metrics token file."""
    access = bearer_access(authorization, ctx.settings.resolved_metrics_token_file)
    if access is Access.NOT_CONFIGURED:
        raise ProblemError(403, "metrics-disabled", "Metrics are not configured",
                           "/metrics needs a bearer token and this AAdSys has none: write a random token to the "
                           "file of the metrics_token_file setting (AADSYS_METRICS_TOKEN_FILE, default "
                           "<data-dir>/metrics-token, mode 0600) and give Prometheus the same file")
    if access is Access.REFUSED:
        raise ProblemError(401, "metrics-token-required", "Metrics token required",
                           "send the metrics token as 'Authorization: Bearer <token>' (Prometheus: "
                           "authorization.credentials_file in the scrape config)",
                           headers={"WWW-Authenticate": CHALLENGE})
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
