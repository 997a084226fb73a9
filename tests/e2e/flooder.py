"""A partner that floods a provider's channel, run as a process of its own: ``python -m tests.e2e.flooder``.

It plays an organisation holding a valid, approved real-time grant: a python-socketio ``AsyncClient`` that does
the real handshake (the challenge, then a connect with its Ed25519 proof over the nonce and the grant), and then
writes Socket.IO event packets straight onto the client's websocket, each asking for an answer: ``subscribe`` for
its own subscription, ``history``, ``resend``, malformed and null payloads, ``RATE`` a second. It connects again
whenever the provider closes the channel (its event budget) or refuses the handshake (its handshake budget), until
told to pause. The packets are written raw because ``emit`` costs the client so much that it could offer only a few
thousand a second on a shared core; between two batches it sleeps a little, so that its reader runs too, and once
the provider has closed the websocket under it, it lets the reader hand on what came before the close (the
replayed deliveries of its subscription come first, then the answers, ``closing`` and the disconnect).

A process, not a task of the test: its busy loop would otherwise hold the test's GIL, and the latencies the test
measures meanwhile would be its own. Orders come as JSON on stdin (``url``, ``grant``, ``subscriptionId``,
``signingKey``: the private Ed25519 key's 32 raw bytes, base64url; ``seconds``: the longest it floods in all); it
opens one channel and closes it again, prints ``admitted``, and then takes lines on stdin: ``go`` floods, ``pause``
closes its channel and waits, ``stop`` prints its figures (over all the flooding) as one JSON line and ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import socketio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.live_server import loopback_async_client

CHALLENGES = "/connector/v1/challenges"  # the channel protocol's public surface (connector/README.md)
SOCKETIO_PATH = "connector/socket.io"
NAMESPACE = "/channel"
RATE = 20_000  # events a second it aims at
TICK = 0.01  # seconds per batch: RATE * TICK events, then a sleep for the rest of the tick
READ_SECONDS = 0.002  # the shortest sleep between two batches: on a busy machine the reader still gets its turn
RETRY_SECONDS = 0.05  # after a refused handshake: a hostile partner does not honour Retry-After
READ_ON_SECONDS = 2.0  # after its websocket was closed, for the reader to hand on what came before the close
MESSAGE = "4"  # Engine.IO's packet type of a message; "2" is Socket.IO's of an event


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def events(subscription_id: str) -> Iterator[str]:
    """The mix, endlessly, as the JSON of each event's arguments: repeats of subscribe (positions that change, so
    only coalescing joins them), a history and a resend the channel has no use for, malformed and null payloads
    (a connection's first events are within budget, so these are answered ``malformed``)."""
    window = {"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z", "afterSeq": 0}
    mix: list[list[Any]] = [
        ["subscribe", {"subscriptionId": subscription_id, "afterSeq": 0}],
        ["subscribe"],
        ["history", {"subscriptionId": subscription_id, **window}],
        ["subscribe", {"subscriptionId": 42, "afterSeq": "many"}],
        ["resend", {"subscriptionId": subscription_id, "seqs": [1, 2, 3], "reason": "again"}],
        ["resend", "junk"],
        ["history", None],
    ]
    for n, args in enumerate(itertools.cycle(mix)):
        if args[0] == "subscribe" and len(args) == 2 and args[1].get("afterSeq") == 0:
            args = ["subscribe", {**args[1], "afterSeq": n % 50}]
        yield json.dumps(args, separators=(",", ":"))


class Flooder:
    def __init__(self, orders: dict[str, Any]) -> None:
        self.url, self.grant = str(orders["url"]), str(orders["grant"])
        self.subscription_id = str(orders["subscriptionId"])
        self.key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(orders["signingKey"] + "=="))
        self.seconds = float(orders["seconds"])
        self.answers: Counter[str] = Counter()  # answers by code (ok for ok: true, none for an empty answer)
        self.closing: Counter[str] = Counter()  # 'closing' notices by code
        self.handshakes: Counter[str] = Counter()  # refused challenges and connects by code
        self.emitted = self.connects = self.closed_by_provider = 0
        self.connected_seconds = self.flooded_seconds = 0.0
        self.flooding, self.stopped = asyncio.Event(), asyncio.Event()

    async def run(self) -> dict[str, Any]:
        mix = events(self.subscription_id)
        async with loopback_async_client(base_url=self.url, timeout=10.0) as http:
            first = await self._connect(http)
            if first is None:
                print(f"refused: {dict(self.handshakes)}", flush=True)
                return {}
            await first.disconnect()
            print("admitted", flush=True)
            orders = asyncio.create_task(self._take_orders())
            while not self.stopped.is_set():
                await self._flood_while_told(http, mix)
            orders.cancel()
        seconds = max(self.flooded_seconds, 1e-9)
        return {"seconds": round(seconds, 2), "emitted": self.emitted, "perSecond": round(self.emitted / seconds),
                "connectedSeconds": round(self.connected_seconds, 2),
                "perConnectedSecond": round(self.emitted / max(self.connected_seconds, 1e-9)),
                "connects": self.connects, "closedByProvider": self.closed_by_provider,
                "answers": dict(self.answers), "closing": dict(self.closing),
                "handshakesRefused": dict(self.handshakes)}

    async def _flood_while_told(self, http: httpx.AsyncClient, mix: Iterator[str]) -> None:
        """One spell of flooding, from ``go`` until ``pause`` (or ``stop``, or the time allowed in all)."""
        told = asyncio.create_task(self.flooding.wait())
        stopped = asyncio.create_task(self.stopped.wait())
        await asyncio.wait([told, stopped], return_when=asyncio.FIRST_COMPLETED)
        told.cancel()
        stopped.cancel()
        started = time.monotonic()
        while self._going(started):
            client = await self._connect(http)
            if client is None:
                await asyncio.sleep(RETRY_SECONDS)
                continue
            await self._flood(client, mix, started)
        self.flooded_seconds += time.monotonic() - started
        if self.flooded_seconds >= self.seconds:
            self.flooding.clear()

    def _going(self, started: float) -> bool:
        return (self.flooding.is_set() and not self.stopped.is_set()
                and self.flooded_seconds + time.monotonic() - started < self.seconds)

    async def _take_orders(self) -> None:
        loop = asyncio.get_running_loop()
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip() or "stop":
            if line == "go":
                self.flooding.set()
            elif line == "pause":
                self.flooding.clear()
            else:
                self.stopped.set()
                return

    async def _connect(self, http: httpx.AsyncClient) -> socketio.AsyncClient | None:
        try:
            answer = await http.post(CHALLENGES, headers={"Authorization": f"Bearer {self.grant}"})
        except httpx.HTTPError as exc:
            self.handshakes[type(exc).__name__] += 1
            return None
        if answer.status_code != 201:
            self.handshakes[str(answer.json().get("code") if answer.content else answer.status_code)] += 1
            return None
        nonce = answer.json()["nonce"]
        digest = hashlib.sha256(self.grant.encode()).hexdigest()
        proof = b64url(self.key.sign(b"aadsys/v1/proof\n" + f"channel\n{nonce}\n{digest}".encode()))
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        refusal: dict[str, Any] = {}

        @client.on("connect_error", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
        async def refused(data: Any = None) -> None:
            refusal.update(data if isinstance(data, dict) else {"message": data})

        @client.on("closing", namespace=NAMESPACE)  # type: ignore[untyped-decorator]
        async def closing(data: Any = None) -> None:
            self.closing[str(data.get("code") if isinstance(data, dict) else data)] += 1

        try:
            await client.connect(self.url, socketio_path=SOCKETIO_PATH, namespaces=[NAMESPACE],
                                 transports=["websocket"], auth={"grant": self.grant, "nonce": nonce, "proof": proof},
                                 wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            self.handshakes[str(refusal.get("data", {}).get("code") or refusal.get("message"))] += 1
            with contextlib.suppress(Exception):
                await client.disconnect()
            return None
        self.connects += 1
        return client

    async def _flood(self, client: socketio.AsyncClient, mix: Iterator[str], started: float) -> None:
        def answered(*args: Any) -> None:
            ack = args[0] if args else None
            self.answers["none" if not isinstance(ack, dict) else "ok" if ack.get("ok") else str(ack.get("code"))] += 1

        per_tick = round(RATE * TICK)
        since = time.monotonic()
        closed = False
        try:
            while client.connected and self._going(started):
                tick = time.monotonic()
                for _ in range(per_tick):
                    ack_id = client._generate_ack_id(NAMESPACE, answered)  # the answer comes back to ``answered``
                    await client.eio.ws.send_str(f"{MESSAGE}2{NAMESPACE},{ack_id}{next(mix)}")
                    self.emitted += 1
                await asyncio.sleep(max(READ_SECONDS, TICK - (time.monotonic() - tick)))  # its reader runs meanwhile
        except Exception:  # the provider closed the websocket under the writer
            closed = True
        self.connected_seconds += time.monotonic() - since
        waited = time.monotonic()
        while closed and client.connected and time.monotonic() - waited < READ_ON_SECONDS:
            await asyncio.sleep(0.01)  # the reader is behind: what came before the close is read first
        if closed or not client.connected:
            self.closed_by_provider += 1
        if client.connected:
            await client.disconnect()


def main() -> None:
    orders = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(Flooder(orders).run())), flush=True)


if __name__ == "__main__":
    main()
