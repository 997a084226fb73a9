"""The channel's real transport: Socket.IO over websockets (namespace ``/channel``, per-message deflate off),
plus the two HTTP routes around it (the challenge and one-time links, served by the connector's router).

``ProviderNamespace`` is the provider's side: one ``on_<event>`` per protocol event, each handing the event to
the ``ProviderPlane`` and returning its answer as the Socket.IO ack. ``SocketIODialer`` makes the consumer's
``ProviderPeer`` for an endpoint: httpx for the challenge and the links, a ``socketio.AsyncClient`` for the
channel.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import engineio
import httpx
import socketio

from aadsys.tls import client_context, describe_failure, plain_http_problem
from connector._wire import CHALLENGE_ROUTE, LINK_ROUTE, NAMESPACE, SOCKETIO_PATH, refused
from connector.codes import FINAL, Code, code_of
from connector.data._provider import ProviderPlane
from connector.data._transport import Channel, ProviderPeer, Receiver, TierOne
from connector.errors import ChannelDown, ChannelRefused, GrantRefused, LinkRefused

log = logging.getLogger("connector.provider")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT = 15.0


def channel_server(plane: ProviderPlane) -> socketio.AsyncServer:
    """The provider's Socket.IO server, websocket only, with the channel namespace registered."""
    sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], cors_allowed_origins=[],
                               max_http_buffer_size=1024 * 1024, logger=False, engineio_logger=False)
    sio.register_namespace(ProviderNamespace(plane))
    return sio


def _refusal(code: Code, reason: str) -> socketio.exceptions.ConnectionRefusedError:
    """Refuses a connect; the consumer's ``connect_error`` gets ``{message, data: {code, reason}}``."""
    return socketio.exceptions.ConnectionRefusedError(reason, {"code": code, "reason": reason})


class _SocketIOConsumer:
    """``ConsumerLink`` of one Socket.IO connection."""

    def __init__(self, namespace: ProviderNamespace, sid: str) -> None:
        self.namespace, self.sid = namespace, sid

    async def send(self, event: str, data: dict[str, Any], on_ack: TierOne | None = None) -> None:
        await self.namespace.emit(event, data, to=self.sid, callback=on_ack)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # gone already
            await self.namespace.disconnect(self.sid)


class ProviderNamespace(socketio.AsyncNamespace):
    """The protocol of DESIGN §5 as one handler per event; each returns the event's ack."""

    def __init__(self, plane: ProviderPlane) -> None:
        super().__init__(NAMESPACE)
        self.plane = plane

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every event gets its answer: a handler that fails unexpectedly is logged and answered with a refusal
        that the consumer retries after, rather than left unanswered until the consumer's call times out."""
        try:
            return await super().trigger_event(event, *args)
        except socketio.exceptions.ConnectionRefusedError:
            raise
        except Exception:
            log.exception("channel: handling %r failed", event)
            if event == "connect":
                raise _refusal(Code.INTERNAL, "the provider failed to admit this connection and logged why") from None
            return refused(Code.INTERNAL, f"the provider failed on {event!r} and logged why; ask again")

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        peer = str(environ.get("REMOTE_ADDR") or environ.get("asgi.scope", {}).get("client", ["?"])[0])
        try:
            await self.plane.connect(sid, _SocketIOConsumer(self, sid), auth, peer)
        except GrantRefused as exc:
            raise _refusal(exc.code, exc.reason) from None

    async def on_subscribe(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self.plane.on_subscribe(sid, data)

    async def on_history(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self.plane.on_history(sid, data)

    async def on_stored(self, sid: str, data: Any = None) -> None:
        await self.plane.on_stored(sid, data)

    async def on_resend(self, sid: str, data: Any = None) -> None:
        await self.plane.on_resend(sid, data)

    async def on_grant(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self.plane.on_grant(sid, data)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        await self.plane.disconnected(sid)


# -- the consumer's side -------------------------------------------------------------------------------------------
class _ConsumerNamespace(socketio.AsyncClientNamespace):
    """Hands the provider's events to the reception's ``Receiver``."""

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(NAMESPACE)
        self.receiver = receiver
        self.refusal: ChannelRefused | None = None

    async def on_disconnect(self, reason: Any = None) -> None:
        self.receiver.on_disconnect()

    async def on_connect_error(self, data: Any = None) -> None:
        info: dict[str, Any] = data if isinstance(data, dict) else {"message": str(data)}
        nested = info.get("data")
        detail: dict[str, Any] = nested if isinstance(nested, dict) else info
        self.refusal = ChannelRefused.of(detail.get("code", Code.MALFORMED),
                                         detail.get("reason") or info.get("message") or info)

    async def on_instance(self, data: Any = None) -> dict[str, Any]:
        return self.receiver.on_instance(data)

    async def on_history_complete(self, data: Any = None) -> dict[str, Any]:
        return await self.receiver.on_history_complete(data)

    async def on_closing(self, data: Any = None) -> None:
        self.receiver.on_closing(data)


class _SocketIOChannel:
    def __init__(self, client: socketio.AsyncClient) -> None:
        self.client = client

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    async def call(self, event: str, data: dict[str, Any], timeout: float) -> Any:
        try:
            return await self.client.call(event, data, namespace=NAMESPACE, timeout=timeout)
        except socketio.exceptions.SocketIOError as exc:
            raise ChannelDown(f"{event}: {type(exc).__name__}: {exc}") from None

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        try:
            await self.client.emit(event, data, namespace=NAMESPACE)
        except socketio.exceptions.SocketIOError as exc:
            raise ChannelDown(f"{event}: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()


class SocketIOPeer:
    """``ProviderPeer`` over the provider's public endpoint."""

    def __init__(self, endpoint: str, http: httpx.AsyncClient, tls: ssl.SSLContext,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.endpoint, self.http, self.tls = endpoint.rstrip("/"), http, tls
        self.max_message_bytes = max_message_bytes

    async def challenge(self, grant: str) -> str:
        if in_clear := plain_http_problem(self.endpoint, "the provider's endpoint"):
            raise ChannelDown(f"challenge: {in_clear}")  # the grant would cross the network in clear
        try:
            response = await self.http.post(f"{self.endpoint}{CHALLENGE_ROUTE}",
                                            headers={"Authorization": f"Bearer {grant}"})
        except httpx.HTTPError as exc:
            raise ChannelDown(f"challenge: {describe_failure(exc, self.endpoint)}") from None
        if response.status_code != 201:
            if response.status_code >= 500:
                raise ChannelDown(f"challenge: HTTP {response.status_code}")
            problem = _json(response)
            raise ChannelRefused.of(problem.get("code") or Code.MALFORMED,
                                    problem.get("detail") or response.text[:300])
        return str(response.json()["nonce"])

    async def open(self, auth: dict[str, Any], receiver: Receiver) -> Channel:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False, logger=False, engineio_logger=False,
                                      websocket_extra_options={"compress": 0, "max_msg_size": self.max_message_bytes,
                                                               "ssl": self.tls})
        namespace = _ConsumerNamespace(receiver)
        client.register_namespace(namespace)
        try:
            await client.connect(self.endpoint, socketio_path=SOCKETIO_PATH, namespaces=[NAMESPACE],
                                 transports=["websocket"], auth=auth, wait_timeout=CONNECT_TIMEOUT)
        except (TimeoutError, socketio.exceptions.ConnectionError, OSError) as exc:
            with contextlib.suppress(Exception):
                await client.disconnect()
            # A failed transport (TLS included) triggers connect_error too; only the namespace's answer is a refusal
            if namespace.refusal is not None and not isinstance(exc.__cause__, engineio.exceptions.ConnectionError):
                raise namespace.refusal from None
            raise ChannelDown(f"connect: {describe_failure(exc, self.endpoint)}") from None
        return _SocketIOChannel(client)

    @contextlib.asynccontextmanager
    async def download(self, token: str, proof: str) -> AsyncIterator[AsyncIterator[bytes]]:
        try:
            async with self.http.stream("GET", f"{self.endpoint}{LINK_ROUTE}/{token}",
                                        headers={"X-Link-Proof": proof}) as response:
                if response.status_code != 200:
                    await response.aread()
                    problem = _json(response)
                    code = code_of(problem.get("code"))
                    raise LinkRefused(response.status_code, str(problem.get("detail") or response.text[:200]),
                                      retry=response.status_code == 410 and code not in FINAL, code=code)
                yield _content(response)
        except httpx.HTTPError as exc:
            raise ChannelDown(f"link: {describe_failure(exc, self.endpoint)}") from None


async def _content(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        raise ChannelDown(f"link: {type(exc).__name__}: {exc}") from None


class SocketIODialer:
    """Makes a ``ProviderPeer`` per endpoint, sharing one HTTP client; ``tls`` verifies every provider (challenge,
    links and wss alike; default: the system's trust store)."""

    def __init__(self, http: httpx.AsyncClient | None = None, *, tls: ssl.SSLContext | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.tls, self.max_message_bytes = tls or client_context(None), max_message_bytes
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0), verify=self.tls)

    def __call__(self, endpoint: str) -> ProviderPeer:
        return SocketIOPeer(endpoint, self.http, self.tls, self.max_message_bytes)

    async def aclose(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
