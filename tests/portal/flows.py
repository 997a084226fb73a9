"""Steps many portal tests share, over the REST API as a connector or a script would take them."""

from __future__ import annotations

import base64
import re
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from httpx_sse import EventSource, ServerSentEvent

from aas_models import Owner, asset_type_metadata
from tests.portal.conftest import Account, LivePortal

PROBLEM_JSON = "application/problem+json"
STREAM = "/api/v1/revocations/stream"


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def raw_b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def connector_keys() -> dict[str, str]:
    """A fresh connector key pair's public halves, as a connector registers them (base64url, raw)."""
    signing = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    encryption = x25519.X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"signingKey": raw_b64url(signing), "encryptionKey": raw_b64url(encryption)}


def register_connector(portal: LivePortal, account: Account) -> dict[str, str]:
    keys = connector_keys()
    with portal.client(portal.connector_token(account)) as api:
        r = api.put("/api/v1/connector", json={"endpointUrl": f"https://connector.{account.org_id[:8]}.example:9443",
                                               **keys})
        assert r.status_code == 200, r.text
    return keys


def metadata(slug: str = "sales-order-status", **changes: Any) -> dict[str, Any]:
    """What a connector publishes: aas_models' asset-type metadata without its IRI id, plus a visibility."""
    published = {k: v for k, v in asset_type_metadata(slug, Owner("omis", "https://omis.example")).items()
                 if k != "id"}
    return {**published, "visibility": "public", **changes}


def publish(api: httpx.Client, **changes: Any) -> dict[str, Any]:
    """Publish an asset of a unique type, so tests sharing a portal never clash; returns it as the API shows it."""
    unique = uuid.uuid4().hex[:8]
    body = metadata(**{"assetType": f"sales-order-status-{unique}", "name": f"Sales Order Status {unique}",
                       **changes})
    r = api.post("/api/v1/assets", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def request(api: httpx.Client, asset_id: str, mode: str = "realtime", *, start: datetime | None = None,
            end: datetime | None = None, expect: int = 201) -> dict[str, Any]:
    if mode == "realtime":
        start, end = start or now(), end or now() + timedelta(days=30)
    else:
        start, end = start or now() - timedelta(days=30), end or now() - timedelta(days=1)
    r = api.post("/api/v1/subscriptions", json={"assetId": asset_id, "mode": mode, "validFrom": iso(start),
                                                "validTo": iso(end)})
    assert r.status_code == expect, r.text
    return dict(r.json())


def web_login(browser: httpx.Client, email: str, password: str, next_page: str = "/catalog") -> httpx.Response:
    """The login form as a browser sends it: its CSRF token from the form page, in the same session."""
    form = browser.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return browser.post("/login", data={"csrf_token": token.group(1), "email": email, "password": password,
                                        "next": next_page})


def act(api: httpx.Client, subscription_id: str, action: str, *, expect: int = 200,
        **body: Any) -> dict[str, Any]:
    """approve, reject, revoke or cancel; returns the answer's JSON (the subscription, or a problem)."""
    r = api.post(f"/api/v1/subscriptions/{subscription_id}/{action}", json=body or None)
    assert r.status_code == expect, r.text
    return dict(r.json())


def assert_problem(r: httpx.Response, status: int, *, field: str | None = None, says: str = "") -> dict[str, Any]:
    """An RFC 9457 problem with ``status``; its detail contains ``says``; its errors name ``field``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    problem = dict(r.json())
    assert {"type", "title", "status", "detail", "instance"} <= problem.keys()
    assert problem["status"] == status and problem["instance"] == r.request.url.path
    assert says.lower() in problem["detail"].lower(), problem["detail"]
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem


class Stream:
    """One open stream, read event by event, each read bounded in time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = EventSource(response).aiter_sse()

    async def next(self, timeout: float = 5.0) -> ServerSentEvent:
        with anyio.fail_after(timeout):
            return await self._events.__anext__()

    async def ended(self, timeout: float) -> bool:
        """Whether the server ends the stream within ``timeout`` (events before the end are skipped)."""
        with anyio.move_on_after(timeout):
            async for _ in self._events:
                pass
            return True
        return False


@asynccontextmanager
async def opened(portal: LivePortal | str, token: str | None, *, verify: ssl.SSLContext | bool = True,
                 **headers: str) -> AsyncIterator[Stream]:
    """The revocation stream of ``portal`` (or a URL), open: it must answer 200 with an event stream."""
    url = portal if isinstance(portal, str) else portal.url
    sent = {**headers, **({"Authorization": f"Bearer {token}"} if token else {})}
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=30), verify=verify) as client, \
            client.stream("GET", STREAM, headers=sent) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)
