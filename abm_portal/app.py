"""The portal's ASGI app: REST API, OpenAPI at /docs, and the server-rendered web UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from abm_portal.api import OPENAPI_TAGS, api_router, install_problem_handlers
from abm_portal.config import Settings
from abm_portal.context import PortalContext
from abm_portal.db import Database
from abm_portal.metrics import PortalMetrics
from abm_portal.services import lifecycle, session_key
from abm_portal.services.revocation_stream import Followers
from abm_portal.web import mount_web

log = logging.getLogger("abm_portal.expiry")


async def sweep_expiries(database: Database, every_seconds: float, metrics: PortalMetrics) -> None:
    """Record the expiry of real-time subscriptions whose window closed, every ``every_seconds``: reads never
    write (they show the effective state), so this is where the audit record and the revocation come from.

    Every worker of the portal sweeps; each expiry is recorded once all the same: a sweep locks the rows it
    expires and skips rows another holds (``lifecycle.expire_due``: ``FOR UPDATE SKIP LOCKED``), and a row
    expired by a sweep that committed first no longer matches when the next one locks it."""
    def sweep() -> int:
        with database.session() as db:
            return lifecycle.expire_due(db)

    while True:
        await asyncio.sleep(every_seconds)
        try:
            expired = await anyio.to_thread.run_sync(sweep)
            metrics.sweep_runs.labels(outcome="ok").inc()
            if expired:
                metrics.expired_by_sweep.inc(expired)
                log.info("%d subscription(s) expired", expired)
        except Exception:
            metrics.sweep_runs.labels(outcome="failed").inc()
            log.exception("the expiry sweep failed; it runs again in %.1f s", every_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    """One portal app over the database of ``settings``; the schema must be migrated (``abm_portal.cli.prepare``)."""
    settings = settings or Settings()
    database = Database(settings.resolved_database_url)
    metrics = PortalMetrics(database)
    followers = Followers(database)
    database.after_revocation.append(followers.ring)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        followers.bind(asyncio.get_running_loop())
        _hear_exit(followers.close)
        tasks = [asyncio.create_task(sweep_expiries(database, settings.expiry_sweep_seconds, metrics)),
                 asyncio.create_task(followers.run())]
        try:
            yield
        finally:
            followers.close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            database.dispose()

    app = FastAPI(title="ABM Portal", version="0.1.0", lifespan=lifespan, openapi_tags=OPENAPI_TAGS,
                  description="The Asset Brokering Manager: the marketplace and trust anchor of AAdSys. "
                              "Connectors authenticate with OAuth2 client credentials; people's scripts with "
                              "personal access tokens. Errors are RFC 9457 problem+json.")
    app.state.portal = PortalContext(settings=settings, database=database, metrics=metrics, followers=followers)
    install_problem_handlers(app)
    app.include_router(api_router)
    with database.session() as db:
        secret = session_key.session_key(db, settings)
    mount_web(app, settings, database.session, secret)
    return app


def _hear_exit(begin_shutdown: Callable[[], None]) -> None:
    """On SIGTERM or SIGINT, end the revocation streams at once, then let the server's own handler go on.

    uvicorn's graceful shutdown first waits for open connections to end and only then runs the lifespan's
    shutdown; a revocation stream ends only when the app ends it. So the app hears the signal itself (as the
    AAdSys gateway does), the streams end, and the server's wait that follows is short. Signals reach the main
    thread only (a server in a test's thread hears none)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(begin_shutdown)
            if callable(previous):
                previous(number, frame)

        signal.signal(signum, handler)
