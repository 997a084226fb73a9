"""Forgeries and replays are refused, counted, and never stored (DESIGN §4).

PEC's connector is reached through a man in the middle (``ChannelProxy``): OMIS learns the proxy as PEC's
endpoint from the portal, so the test can corrupt what travels and replay what it saw. An attacker that has
only what an eavesdropper or a portal member could have is played by the test itself over HTTP and Socket.IO.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aadsys.samples import sales_order
from tests.e2e.exchange import Exchange, forged_grant, grant_of, refused, start_exchange
from tests.e2e.harness import AadsysFactory, PreparedPortal, http_client, received, wait_for
from tests.e2e.mitm import ChannelProxy
from tests.support.postgres import free_port

CHALLENGES = "/connector/v1/challenges"  # the channel protocol's public surface (connector/README.md)
SOCKETIO_PATH = "connector/socket.io"
NAMESPACE = "/channel"


@pytest.fixture(scope="module")
def proxied(portal: PreparedPortal, module_aadsys_factory: AadsysFactory
            ) -> Iterator[tuple[Exchange, ChannelProxy, str]]:
    """PEC behind a proxy, OMIS subscribed to PEC's Sales Orders through it, channel open; shared by the module's
    tests, each of which posts orders of its own and counts refusals as differences."""
    pec_port = free_port()
    with ChannelProxy(f"http://127.0.0.1:{pec_port}") as proxy:
        exchange = start_exchange(portal, module_aadsys_factory, pec_public_url=proxy.url, pec_port=pec_port)
        subscription = exchange.subscribe()
        wait_for(lambda: exchange.channel_open(subscription), "the channel to open through the proxy", timeout=30)
        yield exchange, proxy, subscription


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def connect_as_attacker(url: str, grant: str) -> dict[str, Any]:
    """Ask for a nonce with ``grant``, then connect with a proof signed by a key of the attacker's own."""
    with http_client(url) as client:
        nonce = client.post(CHALLENGES, headers={"Authorization": f"Bearer {grant}"}).raise_for_status().json()["nonce"]
    grant_digest = hashlib.sha256(grant.encode()).hexdigest()
    proof = b64url(Ed25519PrivateKey.generate().sign(b"aadsys/v1/proof\n" + f"channel\n{nonce}\n{grant_digest}"
                                                     .encode()))

    async def attempt() -> dict[str, Any]:
        refusal: dict[str, Any] = {}
        client = socketio.AsyncClient(reconnection=False)

        @client.on("connect_error", namespace=NAMESPACE)  # type: ignore[misc]
        async def refused_with(data: Any) -> None:
            refusal.update(data if isinstance(data, dict) else {"reason": data})

        try:
            await client.connect(url, socketio_path=SOCKETIO_PATH, namespaces=[NAMESPACE], transports=["websocket"],
                                 auth={"grant": grant, "nonce": nonce, "proof": proof}, wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            return refusal
        await client.disconnect()
        return {"connected": True}

    return asyncio.run(attempt())


def test_a_forged_grant_is_refused_and_counted(proxied: tuple[Exchange, ChannelProxy, str]) -> None:
    exchange, _, subscription = proxied
    before = refused(exchange, "pec").get("bad-signature", 0)
    forged = forged_grant(exchange, subscription)  # the portal's kid, another key

    with http_client(exchange.pec.url) as client:
        answer = client.post(CHALLENGES, headers={"Authorization": f"Bearer {forged}"})

    assert answer.status_code == 401 and answer.json()["code"] == "bad-signature", answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert refused(exchange, "pec").get("bad-signature", 0) == before + 1


def test_the_grant_of_another_consumer_is_refused_and_counted(proxied: tuple[Exchange, ChannelProxy, str]) -> None:
    exchange, _, subscription = proxied
    before = refused(exchange, "pec").get("bad-proof", 0)

    outcome = connect_as_attacker(exchange.pec.url, grant_of(exchange, subscription))

    assert outcome.get("data", {}).get("code") == "bad-proof", outcome
    assert refused(exchange, "pec").get("bad-proof", 0) == before + 1
    assert exchange.channel_open(subscription)  # OMIS's own channel is untouched


def test_a_tampered_ciphertext_is_refused_counted_and_never_stored(
        proxied: tuple[Exchange, ChannelProxy, str]) -> None:
    exchange, proxy, _ = proxied
    before, tampered = _broken_seals(exchange), proxy.tampered
    proxy.tamper_binary(1)  # one byte of the next message's first attachment; the re-send goes through intact

    with exchange.pec.api() as api:
        posted = api.post("/api/v1/asset-types/sales-order/instances", json=sales_order("T-1")).json()

    stored = wait_for(lambda: _arrived(exchange, "T-1"), "T-1 after the re-send", timeout=30)
    assert proxy.tampered == tampered + 1
    assert [(i["key"], i["sha256"]) for i in stored] == [("T-1", posted["sha256"])]
    assert _broken_seals(exchange) == before + 1


def test_a_replayed_one_time_link_is_gone_and_counted(proxied: tuple[Exchange, ChannelProxy, str]) -> None:
    exchange, proxy, _ = proxied
    before = refused(exchange, "pec").get("link-gone", 0)
    label = os.urandom(32 * 1024)
    with exchange.pec.api() as api:
        file = api.post("/api/v1/files", content=label, headers={"Content-Type": "image/png"}).json()
        order = sales_order("L-1")
        order["items"][0]["labelImage"] = {"sha256": file["sha256"], "contentType": "image/png"}
        api.post("/api/v1/asset-types/sales-order/instances", json=order).raise_for_status()
    wait_for(lambda: _arrived(exchange, "L-1"), "L-1 with its label at OMIS", timeout=30)
    download = next(e for e in proxy.http_log if e.path.startswith("/connector/v1/links/"))

    again = proxy.replay(download.method, download.path, download.headers)

    assert download.status == 200 and again.status_code == 410, again.text
    with exchange.omis.api() as api:
        assert api.get(f"/api/v1/files/{file['sha256']}").content == label
    assert refused(exchange, "pec").get("link-gone", 0) == before + 1
    assert len(_arrived(exchange, "L-1")) == 1


def _arrived(exchange: Exchange, key: str) -> list[dict[str, Any]]:
    return [i for i in received(exchange.omis, "sales-order", "pec") if i["key"] == key]


def _broken_seals(exchange: Exchange) -> int:
    counts = refused(exchange, "omis")
    return sum(counts.get(code, 0) for code in ("bad-signature", "undecryptable"))

