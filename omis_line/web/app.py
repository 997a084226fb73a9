"""The line's ASGI app: operator page, JSON API, health; the ERP, MES, line and status sender run in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated

from fastapi import FastAPI, Header, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from omis_line import oee
from omis_line.clock import utcnow
from omis_line.config import Settings
from omis_line.metrics import Access, LineMetrics, bearer_access
from omis_line.web import api, pages, problems
from omis_line.web.auth import OperatorCheck
from omis_line.web.problems import ProblemError
from omis_line.web.runtime import Runtime


def create_app(settings: Settings) -> FastAPI:
    """The schema must be current already (``omis-line serve`` migrates before it serves)."""

    metrics = LineMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings, metrics)
        app.state.runtime = runtime
        runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="OMIS line", summary="ERP + MES + six-station bottling line with RFID trace and OEE",
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)  # all but /healthz need login
    app.state.operator_check = OperatorCheck(settings.password_hash_file)
    problems.install(app)

    @app.get("/healthz", tags=["health"], summary="Liveness; no login")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics; the metrics bearer token, not the operator")
    def metrics_page(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        access = bearer_access(authorization, settings.resolved_metrics_token_file)
        if access is Access.NOT_CONFIGURED:
            raise ProblemError(403, "metrics-disabled", "Metrics are not configured",
                               "/metrics needs a bearer token and the line has none: write a random token to the "
                               "file of the metrics_token_file setting (OMIS_LINE_METRICS_TOKEN_FILE, default "
                               "<data-dir>/metrics-token, mode 0600) and give Prometheus the same file")
        if access is Access.REFUSED:
            raise ProblemError(401, "metrics-token-required", "Metrics token required",
                               "send the metrics token as 'Authorization: Bearer <token>' (Prometheus: "
                               "authorization.credentials_file in the scrape config)",
                               headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        runtime: Runtime = request.app.state.runtime
        end = utcnow()
        with runtime.database.session() as session:
            window = oee.measure(session, end - timedelta(minutes=settings.metrics_oee_window_minutes), end,
                                 settings.ideal_cycle_seconds)
        return Response(metrics.exposition(window), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api.router)
    app.include_router(pages.router)
    return app
