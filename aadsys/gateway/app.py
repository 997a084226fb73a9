"""The AAdSys gateway: one ASGI app with the business API (/api/v1) and the AAS Part 2 API (/api/v3.0)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from types import FrameType
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from aadsys import __version__
from aadsys.config import Settings, load_settings
from aadsys.core.db import schema_current
from aadsys.extensions import Extension, Running, discover, migration_branches
from aadsys.gateway.context import AadsysContext
from aadsys.gateway.problems import install_problem_handlers
from aadsys.gateway.routes import asset_types, events, files, health, instances, metrics, serialization
from aadsys.gateway.stored_reads import StoredReads
from aadsys.gateway.typed_openapi import install_typed_openapi
from aadsys.metrics import RequestMetrics

AAS_API = "/api/v3.0"


def create_app(settings: Settings | None = None, context: AadsysContext | None = None, *,
               extensions: Sequence[Extension] | None = None) -> FastAPI:
    """Build the gateway, with every extension that applies (default: the installed ones, ``discover()``).

    The database must be migrated already (``aadsys init`` or ``aadsys serve``).
    """
    ctx = context or AadsysContext.build(settings or load_settings())
    running: list[Running] = []
    stopped: list[Running] = []

    async def stop_parts() -> None:
        """Stop each extension once: early, when the server is told to exit, or else at the lifespan's end."""
        for part in reversed(running):
            if part not in stopped:
                stopped.append(part)
                await part.stop()

    async def begin_shutdown() -> None:
        """The server was told to exit: end the event streams and close the extensions' long-lived connections
        (websocket channels) now, so that the server's wait for open connections ends at once instead of at its
        timeout."""
        ctx.events.close()
        await stop_parts()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _hear_exit(begin_shutdown)
        ctx.events.bind(asyncio.get_running_loop())
        ctx.notifications.start(asyncio.get_running_loop())
        for part in running:
            await part.start()
        try:
            yield
        finally:
            await stop_parts()
            ctx.notifications.stop()
            ctx.metrics.process_exiting()
            if context is None:
                ctx.db.dispose()

    app = FastAPI(
        title=f"AAdSys gateway ({ctx.settings.org})",
        version=__version__,
        description="Business API for ERP and e-shop systems, and the IDTA AAS Part 2 API v3.0 read profiles "
                    "(AAS Repository SSP-002, Submodel Repository SSP-002, AAS Registry SSP-002, Submodel Registry "
                    "SSP-002, Discovery SSP-001).",
        lifespan=lifespan,
    )
    app.state.aadsys = ctx
    app.state.begin_shutdown = begin_shutdown
    install_problem_handlers(app)
    app.add_middleware(StoredReads, context=ctx)
    app.add_middleware(RequestMetrics, metrics=ctx.metrics)  # it also counts what StoredReads answers
    if ctx.settings.cors_origins:  # added last, so outermost: the stored reads' answers get its headers too
        app.add_middleware(CORSMiddleware, allow_origins=ctx.settings.cors_origins, allow_methods=["GET"],
                           allow_headers=["X-API-Key", "Accept", "Content-Type"], max_age=600)
    for module in (asset_types, instances, files, events):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(serialization.router, prefix=AAS_API)
    _mount_aas_api(app, ctx.settings)
    install_typed_openapi(app, bulk_max_items=ctx.settings.bulk_max_items)
    installed = discover() if extensions is None else tuple(extensions)
    branches = tuple(ext.migrations for ext in installed if ext.migrations is not None)
    ctx.metrics.readiness.add_check("schema", partial(schema_current, ctx.db, branches, migration_branches()))
    for extension in installed:
        attached = extension.attach(app, ctx)
        if attached is not None:
            running.append(attached)
    return app


def _hear_exit(begin_shutdown: Callable[[], Awaitable[None]]) -> None:
    """On SIGTERM or SIGINT, begin the shutdown at once, then let the server's own handler go on.

    uvicorn's graceful shutdown first waits for open connections to end and only then runs the lifespan's
    shutdown; an AAdSys always has some open (event streams the shop and the line follow, the connector's
    websocket channels), which end only when the app ends them. So the app hears the signal itself: the streams
    end and the channels close, and the server's wait that follows is short. Signals reach the main thread only
    (a server in a test's thread hears none)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(begin_shutdown()))
            if callable(previous):
                previous(number, frame)

        signal.signal(signum, handler)


def _mount_aas_api(app: FastAPI, settings: Settings) -> None:
    from aadsys.gateway.deps import AasReader, get_aas_registry, get_aas_repository
    from aadsys.gateway.part2 import aas_api_router
    from aadsys.gateway.problems import as_aas_api_error

    # Descriptors point at this AAdSys's own Part 2 API, at the URL it is reached at (public_url or host:port).
    registry = (get_aas_registry, f"{settings.advertised_url}{AAS_API}")
    app.include_router(aas_api_router(get_aas_repository, AasReader, translate=as_aas_api_error, registry=registry),
                       prefix=AAS_API)
