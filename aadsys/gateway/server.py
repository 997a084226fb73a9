"""The gateway under uvicorn: one process, or ``workers`` of them on one PostgreSQL database.

Workers are fresh interpreters, each building its app with ``worker_app`` from the settings the serving process
handed on (``Settings.hand_to_workers``); they share the listening socket, and nothing else but the database,
where the connector's leases decide which of them runs which subscription (``connector._leases``). Each app hears
the signal that stops its process (``aadsys.gateway.app``), so that its open connections end at once;
``timeout_graceful_shutdown`` bounds uvicorn's wait for them whatever happens.
"""

from __future__ import annotations

import gc

import uvicorn
from fastapi import FastAPI

GRACE_SECONDS = 5
APP_FACTORY = "aadsys.gateway.server:worker_app"


def worker_app() -> FastAPI:
    """The app of one process, from the settings the serving process handed on (uvicorn's app factory)."""
    from aadsys.config import load_settings
    from aadsys.gateway.app import create_app

    app = create_app(load_settings())
    # What exists now lives as long as the process (modules, routes, models, table metadata): kept out of the
    # collector's full passes, each of which walked all of it (~150,000 objects, 50-150 ms: the p99 of a page of
    # descriptors, which makes many small objects; measured with and without).
    gc.collect()
    gc.freeze()
    return app


def serve(**options: object) -> None:
    """Run the gateway until it is told to exit (``options``: uvicorn's, host, port and workers among them)."""
    uvicorn.run(APP_FACTORY, factory=True, timeout_graceful_shutdown=GRACE_SECONDS, **options)  # type: ignore[arg-type]
