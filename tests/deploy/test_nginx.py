"""The site files of ``deploy/nginx`` pass ``nginx -t`` as shipped (with the tests' hosts), and the AAdSys site
passes a websocket handshake to the connector's channel path. The portal's site carries the whole portal in
``tests/portal/test_cluster.py``.
"""

from __future__ import annotations

import base64
import secrets
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_server import live_server
from tests.support.nginx import loopback_certificate, nginx_binary, site_for_test, start_nginx


@pytest.mark.parametrize(("site", "upstream"), [("abm-portal.conf", "abm_portal"), ("aadsys.conf", "aadsys_pec")])
def test_the_site_file_is_valid_nginx(tmp_path: Path, site: str, upstream: str) -> None:
    certificate = loopback_certificate(tmp_path / "tls")
    (tmp_path / "site.conf").write_text(site_for_test(site, upstream, ["127.0.0.1:1"], 1, certificate))
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\n"
                                         f"http {{ include {tmp_path / 'site.conf'}; }}\n")
    checked = subprocess.run([str(nginx_binary()), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


async def _upgrade_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that accepts a websocket on the channel path and answers anything else with 404."""
    if scope["type"] == "lifespan":
        while True:
            phase = (await receive())["type"].removeprefix("lifespan.")
            await send({"type": f"lifespan.{phase}.complete"})
            if phase == "shutdown":
                return
    elif scope["type"] == "websocket" and scope["path"].startswith("/connector/socket.io/"):
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_the_aadsys_site_upgrades_the_connector_channel_to_a_websocket(tmp_path: Path) -> None:
    with live_server(_upgrade_only) as upstream:
        proxy, certificate = start_nginx(tmp_path, "aadsys.conf", "aadsys_pec", [upstream.removeprefix("http://")])
        try:
            port = int(proxy.url.rsplit(":", 1)[1])
            context = ssl.create_default_context(cafile=str(certificate.ca))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                key = base64.b64encode(secrets.token_bytes(16)).decode()
                tls.sendall((f"GET /connector/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                             f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
                head = tls.recv(4096).decode(errors="replace")
        finally:
            proxy.stop()
    assert head.startswith("HTTP/1.1 101"), head
