"""The Part 2 router alone, over an in-memory environment, on a real uvicorn."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Header

from aadsys.gateway.part2 import AasApiError, InMemoryAasRepository, aas_api_router
from tests.aadsys.part2.environment import ENVIRONMENT, FILES
from tests.support.live_server import live_server


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
    with live_server(app) as url, httpx.Client(base_url=url + "/api/v3.0", headers={"X-API-Key": "reader"}) as c:
        yield c
