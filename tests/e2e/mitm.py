"""A man in the middle between a consumer and a provider's AAdSys, for forgery tests.

:class:`ChannelProxy` is a raw ASGI app on a real uvicorn (loopback, ephemeral port). Consumers are pointed
at its URL instead of the provider's; it forwards every HTTP request and every websocket connection to the
provider and can misbehave on request: flip a byte in binary websocket frames (Socket.IO sends each binary
attachment as its own frame, so one tampered frame corrupts exactly one sealed payload), and replay a
captured HTTP request (a second use of a one-time link).

Response bodies are streamed chunk by chunk with back-pressure, never held whole, so a proxied 20 MB
download costs the proxy a few chunks of memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.support.live_server import loopback_async_client, loopback_client

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# RFC 9110 §7.6.1: connection-specific fields are not forwarded by a proxy; host and length are recomputed.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"})
# The websocket handshake (RFC 6455 §4) is made afresh on the upstream side.
WS_HANDSHAKE = frozenset({"host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version",
                          "sec-websocket-extensions", "sec-websocket-protocol", "content-length"})
TAMPER_MIN_BYTES = 64  # smaller binary frames are protocol chatter, not payloads
UPSTREAM_TIMEOUT = httpx.Timeout(60.0, connect=5.0)  # long enough for an Engine.IO long-poll (25 s)
WS_MAX_BYTES = 64 * 1024 * 1024  # above the connector's inline limit: the proxy must never be the one refusing


class HttpExchange(NamedTuple):
    """One proxied HTTP request; ``path`` includes the query string, so it can be replayed as it was."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


class ChannelProxy:
    """Forwards HTTP and websockets to ``upstream`` (e.g. ``http://127.0.0.1:40123``); use as a context manager."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.http_log: list[HttpExchange] = []
        self.tampered = 0  # binary frames altered so far
        self.frames_relayed = 0  # websocket frames passed on, either direction
        self._tamper_left = 0
        self._lock = threading.Lock()  # the counters are set from the test thread, used on uvicorn's
        self._client: httpx.AsyncClient | None = None
        self._stack = ExitStack()
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the proxy is not running: use `with ChannelProxy(upstream) as proxy:` or start()")
        return self._url

    def start(self) -> ChannelProxy:
        self._url = self._stack.enter_context(_serve(self))
        return self

    def stop(self) -> None:
        self._stack.close()
        self._url = None

    def __enter__(self) -> ChannelProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tamper_binary(self, count: int) -> None:
        """Flip one byte in each of the next ``count`` upstream→client binary frames of ≥ 64 bytes."""
        with self._lock:
            self._tamper_left += count

    def replay(self, method: str, path: str, headers: Mapping[str, str]) -> httpx.Response:
        """Send a captured request (see ``http_log``) to the upstream again, straight, not through the proxy."""
        forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        with loopback_client(base_url=self.upstream, timeout=UPSTREAM_TIMEOUT) as client:
            return client.request(method, path, headers=forwarded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = loopback_async_client(base_url=self.upstream, timeout=UPSTREAM_TIMEOUT)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._client is not None
        parts: list[bytes] = []
        while True:  # request bodies are small here (JSON, acks); only responses need streaming
            message = await receive()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        path = _target(scope)
        headers = _headers(scope, drop=HOP_BY_HOP)
        request = self._client.build_request(scope["method"], path, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            self.http_log.append(HttpExchange(scope["method"], path, headers, 502))
            await _plain_response(send, 502, f"proxy: upstream unreachable: {exc!r}".encode())
            return
        try:
            self.http_log.append(HttpExchange(scope["method"], path, headers, response.status_code))
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw
                                    if k.lower().decode() not in HOP_BY_HOP - {"content-length"}]})
            async for chunk in response.aiter_raw():  # raw: content-encoding passes through untouched
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        url = "ws" + self.upstream.removeprefix("http") + _target(scope)
        try:
            upstream = await connect(url, additional_headers=_headers(scope, drop=WS_HANDSHAKE),
                                     subprotocols=scope.get("subprotocols") or None, compression=None,
                                     max_size=None, user_agent_header=None, proxy=None, open_timeout=10)
        except InvalidStatus as exc:
            await send({"type": "websocket.close", "code": 1008, "reason": f"upstream: {exc.response.status_code}"})
            return
        except (OSError, InvalidHandshake, TimeoutError):
            await send({"type": "websocket.close", "code": 1011, "reason": "upstream unreachable"})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        async with upstream:
            relays = [asyncio.create_task(self._client_to_upstream(receive, upstream)),
                      asyncio.create_task(self._upstream_to_client(upstream, send))]
            _, pending = await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _client_to_upstream(self, receive: Receive, upstream: ClientConnection) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close()  # the client's code may be one that must not be sent (1005, 1006)
                return
            data = message.get("bytes")
            try:
                await upstream.send(data if data is not None else message.get("text", ""))
            except ConnectionClosed:
                return
            self.frames_relayed += 1

    async def _upstream_to_client(self, upstream: ClientConnection, send: Send) -> None:
        try:
            async for frame in _frames(upstream):
                if isinstance(frame, bytes):
                    await send({"type": "websocket.send", "bytes": self._maybe_tamper(frame)})
                else:
                    await send({"type": "websocket.send", "text": frame})
                self.frames_relayed += 1
        finally:
            with contextlib.suppress(OSError, RuntimeError):  # the client may have gone already
                await send({"type": "websocket.close", "code": _sendable_close_code(upstream.close_code)})

    def _maybe_tamper(self, frame: bytes) -> bytes:
        if len(frame) < TAMPER_MIN_BYTES:
            return frame
        with self._lock:
            if self._tamper_left <= 0:
                return frame
            self._tamper_left -= 1
            self.tampered += 1
        middle = len(frame) // 2  # inside the ciphertext, past any header
        return frame[:middle] + bytes([frame[middle] ^ 0xFF]) + frame[middle + 1:]


async def _frames(upstream: ClientConnection) -> AsyncIterator[str | bytes]:
    """The upstream's frames until it closes (normally or not)."""
    try:
        async for frame in upstream:
            yield frame
    except ConnectionClosed:
        return


def _sendable_close_code(code: int | None) -> int:
    """RFC 6455 §7.4.1: 1005 (no code) and 1006 (connection lost) describe a close and must not be sent."""
    if code is None or code == 1005:
        return 1000
    return 1011 if code in (1006, 1015) else code


@contextmanager
def _serve(app: ChannelProxy) -> Iterator[str]:
    """Serve ``app`` on uvicorn in a thread at a free loopback port (as ``tests.support.live_server`` does).

    The plain asyncio loop, not uvloop: uvloop keeps several MB of socket buffers in flight per streamed
    response, which would hide whether the proxy itself holds a body.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, loop="asyncio", log_level="warning", lifespan="on",
                            ws_per_message_deflate=False, ws_max_size=WS_MAX_BYTES)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="channel-proxy")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the channel proxy's uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _target(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    path: bytes = scope.get("raw_path") or scope["path"].encode()  # raw: percent-escapes pass unchanged
    return path.decode("latin-1") + (f"?{query}" if query else "")


def _headers(scope: Scope, *, drop: frozenset[str]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in drop}


async def _plain_response(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
