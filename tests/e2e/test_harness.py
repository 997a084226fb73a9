"""The whole-system harness itself: real processes start, answer, crash and come back; the proxy relays and lies.

Nothing here depends on the connector doing anything: an AAdSys with portal settings only has to serve.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.sync.client import connect as ws_connect

from aadsys.processes import PortalProcess
from aas_models import Owner, asset_type_metadata
from tests.e2e.harness import (
    AadsysFactory,
    HarnessError,
    Organisation,
    PreparedPortal,
    http_client,
    post_orders,
    proc_status_bytes,
    received,
    wait_for,
)
from tests.e2e.mitm import ChannelProxy, HttpExchange
from tests.support.live_server import live_server

MB = 1024 * 1024
DOWNLOAD_BYTES = 20 * MB
CHUNK = 64 * 1024


# --- the portal and one AAdSys as real processes ---------------------------------------------------------------

@pytest.fixture(scope="module")
def orgs(portal: PreparedPortal) -> dict[str, Organisation]:
    """PEC and OMIS registered at the session's portal, under names of this module's own."""
    run = os.urandom(3).hex()
    return {name: portal.register(f"{name} {run}", f"admin-{run}@{name.lower()}.example") for name in ("PEC", "OMIS")}


def test_portal_registers_two_organisations_whose_tokens_work(portal: PreparedPortal,
                                                             orgs: dict[str, Organisation]) -> None:
    pec, omis = orgs["PEC"], orgs["OMIS"]
    assert pec.client_id != omis.client_id and pec.org_id != omis.org_id
    for org in (pec, omis):
        for token in (org.admin_token, portal.connector_token(org)):
            with portal.api(token) as client:
                assert client.get("/api/v1/assets", params={"q": "sales"}).status_code == 200
    with portal.api("not-a-token") as client:
        assert client.get("/api/v1/assets").status_code == 401


def test_provider_admin_approves_and_revokes_a_subscription(portal: PreparedPortal,
                                                           orgs: dict[str, Organisation]) -> None:
    """OMIS provides here, since no OMIS connector runs in this module to publish the same type."""
    omis, pec = orgs["OMIS"], orgs["PEC"]
    metadata = asset_type_metadata("sales-order-status", Owner("omis", "https://omis.example"))
    with portal.api(portal.connector_token(omis)) as provider:
        published = provider.post("/api/v1/assets", json={**{k: v for k, v in metadata.items() if k != "id"},
                                                          "visibility": "public"})
    assert published.status_code == 201, published.text
    now = datetime.now(UTC).replace(microsecond=0)
    with portal.api(portal.connector_token(pec)) as consumer:
        requested = consumer.post("/api/v1/subscriptions", json={
            "assetId": published.json()["id"], "mode": "realtime", "validFrom": now.isoformat(),
            "validTo": (now + timedelta(days=1)).isoformat()})
    assert requested.status_code == 201, requested.text
    subscription = requested.json()["id"]
    assert portal.decide(subscription, omis)["state"] == "approved"
    with pytest.raises(HarnessError, match="403|404"):  # only the provider's admin decides
        portal.decide(subscription, pec, "revoke")
    assert portal.decide(subscription, omis, "revoke", reason="harness test")["state"] == "revoked"


def test_a_process_that_cannot_start_fails_with_its_log_tail(e2e_dir: Path) -> None:
    broken = PortalProcess(e2e_dir / "broken", env={"ABM_PORTAL_DATABASE_URL": "nosuchdb://nowhere",
                                                    "ABM_PORTAL_KEK": base64.urlsafe_b64encode(bytes(32)).decode()})
    try:
        with pytest.raises(HarnessError, match=r"(?s)exited \(\d+\) before it was ready.*nosuchdb"):
            broken.start()
    finally:
        broken.stop()


def test_a_taken_port_is_refused_before_anything_is_spawned(e2e_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        process = PortalProcess(e2e_dir / "late")
        with pytest.raises(HarnessError, match="is taken"):
            process.start(squatter.getsockname()[1])
    assert process.pid is None


def test_aadsys_member_serves_survives_sigkill_and_restarts_on_its_port(
        orgs: dict[str, Organisation], aadsys_factory: AadsysFactory) -> None:
    pec = aadsys_factory("pec", "pec", "https://pec.example", orgs["PEC"],
                         env={"AADSYS_CONNECTOR_POLL_SECONDS": "0.5"})
    pec.start(wait=False)
    pec.create_key()  # while it starts: an operator may make keys for a running AAdSys
    pec.wait_ready()
    with http_client(pec.url) as client:
        health = client.get("/healthz").json()
    assert (health["status"], health["org"]) == ("ok", "pec")
    ids = post_orders(pec, 3, prefix="SO-H", size=4000)
    assert [item["key"] for item in pec.instances("sales-order")] == ids
    assert received(pec, "sales-order", "omis") == []
    assert 20 * MB < pec.peak_rss_bytes() < 2048 * MB

    port, pid = pec.port, pec.pid
    pec.kill()
    assert not pec.running
    with pytest.raises(HarnessError, match="not running"):
        pec.peak_rss_bytes()
    pec.restart()
    assert (pec.port, pec.running) == (port, True) and pec.pid != pid
    assert [item["key"] for item in pec.instances("sales-order")] == ids
    assert post_orders(pec, 1, prefix="SO-AFTER") == ["SO-AFTER-00000"]


# --- wait_for -------------------------------------------------------------------------------------------------

def test_wait_for_returns_the_first_truthy_value() -> None:
    values = iter([[], [], ["x"]])
    assert wait_for(lambda: next(values), "a list", timeout=5, interval=0.01) == ["x"]


def test_wait_for_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(HarnessError, match=r"waiting for 3 received records; last seen: \[\]"):
        wait_for(lambda: [], "3 received records", timeout=0.2, interval=0.05)


def test_wait_for_takes_a_refused_connection_as_not_yet() -> None:
    attempts = iter([httpx.ConnectError("refused"), httpx.ConnectError("refused"), None])

    def probe() -> str:
        refusal = next(attempts)
        if refusal is not None:
            raise refusal
        return "up"

    assert wait_for(probe, "the restart", timeout=5, interval=0.01) == "up"


# --- the man in the middle ------------------------------------------------------------------------------------

class Upstream:
    """A tiny provider stand-in: echoes HTTP requests, streams a large body lazily, echoes websocket frames."""

    def __init__(self) -> None:
        self.hits = 0
        self.app = Starlette(routes=[Route("/big", self.big), WebSocketRoute("/ws/{rest:path}", self.ws),
                                     Route("/echo/{rest:path}", self.echo,
                                           methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])

    async def echo(self, request: Request) -> Response:
        self.hits += 1
        return JSONResponse({"method": request.method, "path": request.scope["raw_path"].decode(),
                             "query": request.url.query, "headers": dict(request.headers),
                             "body": (await request.body()).decode(), "hits": self.hits},
                            headers={"X-Upstream": "yes"})

    async def big(self, request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(DOWNLOAD_BYTES // CHUNK):
                yield bytes([i % 251]) * CHUNK
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/octet-stream",
                                 headers={"Content-Length": str(DOWNLOAD_BYTES)})

    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {websocket.url.path}?{websocket.url.query}")
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await websocket.send_bytes(message["bytes"])
                else:
                    await websocket.send_text(message["text"])
        except WebSocketDisconnect:
            return


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    stand_in = Upstream()
    with live_server(stand_in.app) as url:
        yield stand_in, url


@pytest.fixture
def proxy(upstream: tuple[Upstream, str], channel_proxy: Callable[[str], ChannelProxy]) -> ChannelProxy:
    return channel_proxy(upstream[1])


def _expected_download_digest() -> str:
    digest = hashlib.sha256()
    for i in range(DOWNLOAD_BYTES // CHUNK):
        digest.update(bytes([i % 251]) * CHUNK)
    return digest.hexdigest()


def test_proxy_relays_method_path_query_headers_body_and_status(proxy: ChannelProxy) -> None:
    with http_client(proxy.url) as client:
        response = client.put("/echo/a%20b/c", params={"x": "1", "y": "2"}, content=b"payload",
                              headers={"X-Custom": "kept", "Content-Type": "text/plain"})
        missing = client.get("/nowhere")
    seen = response.json()
    assert response.status_code == 200 and response.headers["x-upstream"] == "yes"
    assert (seen["method"], seen["path"], seen["query"], seen["body"]) == ("PUT", "/echo/a%20b/c", "x=1&y=2",
                                                                            "payload")
    assert seen["headers"]["x-custom"] == "kept" and seen["headers"]["content-length"] == "7"
    assert missing.status_code == 404
    assert [(e.method, e.path, e.status) for e in proxy.http_log] == [("PUT", "/echo/a%20b/c?x=1&y=2", 200),
                                                                      ("GET", "/nowhere", 404)]


def test_proxy_streams_a_20_mb_download_without_holding_it(upstream: tuple[Upstream, str],
                                                           proxy: ChannelProxy) -> None:
    """Upstream, proxy and client all live in this process, so its peak RSS growth bounds the proxy's."""
    expected = _expected_download_digest()
    _download(upstream[1])  # first, straight: the stand-in upstream's and the client's own warm-up is not counted
    gc.collect()
    before = proc_status_bytes(os.getpid(), "VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
    size, digest = _download(proxy.url)
    growth = proc_status_bytes(os.getpid(), "VmHWM") - before
    assert (size, digest) == (DOWNLOAD_BYTES, expected)
    assert growth < 4 * MB, f"peak RSS grew by {growth / MB:.1f} MB for a 20 MB download: something buffers it"


def _download(base_url: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with http_client(base_url) as client, client.stream("GET", "/big") as response:
        assert response.headers["content-length"] == str(DOWNLOAD_BYTES)
        for chunk in response.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def test_proxy_relays_websocket_text_and_binary_frames_both_ways(proxy: ChannelProxy) -> None:
    url = proxy.url.replace("http://", "ws://") + "/ws/channel?token=abc"
    with ws_connect(url, proxy=None, compression=None, open_timeout=5) as ws:
        assert ws.recv(timeout=5) == "hello /ws/channel?token=abc"
        payload = bytes(range(256)) * 4
        ws.send("ping")
        ws.send(payload)
        ws.send(b"tiny")
        assert [ws.recv(timeout=5) for _ in range(3)] == ["ping", payload, b"tiny"]
    assert (proxy.frames_relayed, proxy.tampered) == (7, 0)  # greeting, three up, three down


def test_proxy_tampers_exactly_the_requested_binary_frames(proxy: ChannelProxy) -> None:
    proxy.tamper_binary(2)
    frames = [b"small frame", *(bytes([n]) * 100 for n in range(4))]  # the first is under 64 bytes: spared
    url = proxy.url.replace("http://", "ws://") + "/ws/channel"
    with ws_connect(url, proxy=None, compression=None, open_timeout=5) as ws:
        ws.recv(timeout=5)
        for frame in frames:
            ws.send(frame)
        ws.send("text is never touched " * 8)
        echoed = [ws.recv(timeout=5) for _ in range(len(frames) + 1)]
    changed_bytes = [sum(a != b for a, b in zip(sent, got, strict=True)) for sent, got in zip(frames, echoed,
                                                                                               strict=False)]
    assert changed_bytes == [0, 1, 1, 0, 0]
    assert echoed[-1] == "text is never touched " * 8
    assert proxy.tampered == 2


def test_proxy_replays_a_captured_request(upstream: tuple[Upstream, str], proxy: ChannelProxy) -> None:
    with http_client(proxy.url) as client:
        first = client.get("/echo/link", params={"token": "one-time"}, headers={"X-Link": "L1"}).json()
    captured = proxy.http_log[-1]
    assert isinstance(captured, HttpExchange) and captured.path == "/echo/link?token=one-time"
    again = proxy.replay(captured.method, captured.path, captured.headers)
    assert again.status_code == 200
    second = again.json()
    assert (second["query"], second["headers"]["x-link"]) == ("token=one-time", "L1")
    assert second["hits"] == first["hits"] + 1
    assert len(proxy.http_log) == 1  # the replay went straight to the upstream
