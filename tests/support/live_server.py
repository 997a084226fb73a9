"""Run an ASGI app on a real uvicorn server on an ephemeral loopback port, over plain HTTP or TLS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from aadsys.tls import client_context

# What a test's httpx client verifies with: httpx otherwise reads the system's trust store for every client it makes
# (60-100 ms of CPU each, even for plain http), and the suite makes thousands. Shared, as the product shares it.
LOOPBACK_TLS = client_context(None)
# httpx's default of 5 s has timed out under a full suite on two loaded cores; a hung server still fails the test.
LOOPBACK_TIMEOUT = 30.0


def loopback_client(base_url: str = "", **options: Any) -> httpx.Client:
    """A test's client to a server on this machine: the shared TLS context, no proxy from the environment, and a
    timeout that a loaded machine does not hit. ``options`` go to ``httpx.Client`` and win over these."""
    return httpx.Client(base_url=base_url, **_loopback(options))


def loopback_async_client(base_url: str = "", **options: Any) -> httpx.AsyncClient:
    """``loopback_client`` for asyncio."""
    return httpx.AsyncClient(base_url=base_url, **_loopback(options))


def _loopback(options: dict[str, Any]) -> dict[str, Any]:
    return {"verify": LOOPBACK_TLS, "trust_env": False, "timeout": LOOPBACK_TIMEOUT, **options}


def loopback_get(url: str, **options: Any) -> httpx.Response:
    """One GET through ``loopback_client`` (``options`` as ``httpx.Client.get`` takes them)."""
    with loopback_client() as client:
        return client.get(url, **options)


def reserve_port(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A socket bound to a loopback port (``port`` 0: a free one): for an app that must know its own URL before it
    serves."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def live_server(app: Any, host: str = "127.0.0.1", sock: socket.socket | None = None, *, port: int = 0,
                tls_cert: Path | None = None, tls_key: Path | None = None) -> Iterator[str]:
    """Serve ``app`` until the block ends (on ``sock`` if given, from ``reserve_port``, else on ``port``, 0 for a free
    one); yields its base URL, e.g. ``http://127.0.0.1:40123``, or ``https://…`` with ``tls_cert`` and ``tls_key``
    (uvicorn's ssl_certfile and ssl_keyfile, as ``serve --tls-cert`` passes them)."""
    sock = sock or reserve_port(host, port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws_per_message_deflate=False,
                            ssl_certfile=tls_cert, ssl_keyfile=tls_key)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if tls_cert else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
