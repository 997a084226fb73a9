"""The shop's ASGI app: pages, JSON API and, in its lifespan, the outbox sender and the status follower."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pec_shop.aadsys_client import AadsysClient
from pec_shop.changes import Changes
from pec_shop.config import Settings
from pec_shop.db import Database
from pec_shop.metrics import ShopMetrics
from pec_shop.problems import install_error_handlers
from pec_shop.routes import api, pages, staff
from pec_shop.sender import Sender
from pec_shop.shop import Shop
from pec_shop.staff import StaffCheck
from pec_shop.status_follower import StatusFollower
from pec_shop.timestamps import when
from pec_shop.tls import client_context

PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings``; the schema must be current (``pec_shop.db.migrate``) before it serves."""
    api_key = settings.read_api_key()  # fail now, not at the first delivery, when the key file is missing
    tls = client_context(settings.tls_ca_file)
    templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
    templates.env.filters["when"] = when
    db = Database(settings.resolved_database_url)
    shop = Shop(settings=settings, db=db, changes=Changes(), metrics=ShopMetrics(db), templates=templates)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        shop.changes.bind(asyncio.get_running_loop())
        client = AadsysClient(settings.aadsys_url, api_key, settings.http_timeout_seconds, tls)
        workers = [
            asyncio.create_task(Sender(shop.db, client, shop.changes, settings, shop.metrics).run(), name="sender"),
            asyncio.create_task(StatusFollower(shop.db, client, shop.changes, settings, shop.metrics).run(),
                                name="status-follower"),
        ]
        try:
            yield
        finally:
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await client.aclose()
            shop.db.dispose()

    app = FastAPI(title="PEC juice shop", lifespan=lifespan, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.shop = shop
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static")
    app.state.staff_check = StaffCheck(settings.staff_password_file)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(staff.router)
    install_error_handlers(app)
    return app
