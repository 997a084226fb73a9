"""The line's ASGI app: operator page, JSON API, health; the ERP, MES, line and status sender run in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from omis_line.config import Settings
from omis_line.web import api, pages, problems
from omis_line.web.auth import OperatorCheck
from omis_line.web.runtime import Runtime


def create_app(settings: Settings) -> FastAPI:
    """The schema must be current already (``omis-line serve`` migrates before it serves)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings)
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

    app.include_router(api.router)
    app.include_router(pages.router)
    return app
