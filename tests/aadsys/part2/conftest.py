"""The Part 2 router alone, over an in-memory environment, on a real uvicorn."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Header

from aadsys.cli import prepare
from aadsys.config import Settings
from aadsys.core import api_keys
from aadsys.core.inbox import Arrival, Provenance
from aadsys.core.instances import StoredInstance
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from aadsys.gateway.part2 import AasApiError, InMemoryAasRepository, aas_api_router
from aas_models import Owner, render_instance
from tests.aadsys.conftest import Gateway
from tests.aadsys.part2.environment import ENVIRONMENT, FILES
from tests.aas_models.records import record
from tests.support.live_server import live_server, loopback_client, reserve_port


class Refused(Exception):
    """The owner's own authorization error, as the gateway's ProblemError is: the router learns it via translate."""

    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


def translate(exc: Exception) -> AasApiError | None:
    if isinstance(exc, Refused):
        return AasApiError(exc.status, exc.detail, {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None)
    return None


def reader(x_api_key: str | None = Header(default=None)) -> None:
    if x_api_key is None:
        raise Refused(401, "send an API key in the X-API-Key header")
    if x_api_key != "reader":
        raise Refused(403, "this API key lacks the 'read' scope")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    repository = InMemoryAasRepository(ENVIRONMENT, FILES)
    app = FastAPI()
    app.include_router(aas_api_router(lambda: repository, reader, translate=translate), prefix="/api/v3.0")
    with live_server(app) as url, loopback_client(base_url=url + "/api/v3.0", headers={"X-API-Key": "reader"}) as c:
        yield c


# -- one AAdSys with own and received records, reached at its advertised URL (registry, discovery, CORS) -----------
ALLOWED_ORIGIN = "http://ui.example:3000"
OMIS = Owner("omis", "https://omis.example")


@dataclass
class Directory:
    """PEC's AAdSys holding an own Sales Order SO-1001 and an own juice product, and OMIS's status of SO-1001
    received through the inbox; its ``public_url`` is the URL it serves at, so every descriptor's endpoint works."""

    gateway: Gateway
    own_order: StoredInstance
    product: StoredInstance
    received_status: str  # its shell id, under OMIS's base IRI

    @property
    def url(self) -> str:
        return self.gateway.url

    def client(self, key: str | None = "read") -> httpx.Client:
        return self.gateway.client(key)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def directory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    root = tmp_path_factory.mktemp("directory")
    url = f"sqlite:///{root / 'pec.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres_server").create_database()
    sock = reserve_port()
    settings = Settings(data_dir=root, org="pec", base_iri="https://pec.example", database_url=url,
                        public_url=f"http://127.0.0.1:{sock.getsockname()[1]}", cors_origins=[ALLOWED_ORIGIN])
    prepare(settings)
    ctx = AadsysContext.build(settings)
    own_order = ctx.instances.create("sales-order", record("sales-order"))[0]
    product = ctx.instances.create("juice-product", record("juice-product"))[0]
    status = render_instance("sales-order-status", record("sales-order-status"), OMIS)
    provenance = Provenance("sub-omis", OMIS, "org-omis")
    arrival = Arrival(1, status.asset_type, status.key, status.revision, datetime.now(UTC), status.sha256,
                      status.aas_json)
    ctx.inbox.store(provenance, [(arrival, ctx.inbox.check(provenance, arrival))])
    write_key = api_keys.create_key(ctx.db, "erp", ["write"])
    read_key = api_keys.create_key(ctx.db, "browser", ["read"])
    app = create_app(settings, context=ctx)
    with live_server(app, sock=sock) as served:
        yield Directory(Gateway(served, ctx, write_key, read_key, app), own_order, product, status.shell_id)
    ctx.db.dispose()
