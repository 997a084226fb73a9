"""The channel's real transport: Socket.IO over websockets (namespace ``/channel``, per-message deflate off),
plus the two HTTP routes around it (the challenge and one-time links, served by the connector's router).

``ProviderNamespace`` is the provider's side: one ``on_<event>`` per protocol event, each handing the event to
the ``ProviderPlane`` and returning its answer as the Socket.IO ack; ``channel_app`` serves it as an ASGI app.
``SocketIODialer`` makes the consumer's ``ProviderPeer`` for an endpoint: httpx for the challenge and the links, a
``socketio.AsyncClient`` for the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import engineio
import httpx
import socketio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aadsys.tls import client_context, describe_failure, plain_http_problem
from connector._wire import CHALLENGE_ROUTE, LINK_ROUTE, NAMESPACE, SOCKETIO_PATH, refused
from connector.codes import FINAL, Code, code_of
from connector.data._provider import ProviderPlane
from connector.data._transport import Channel, ProviderPeer, Receiver, TierOne
from connector.errors import ChannelDown, ChannelRefused, GrantRefused, LinkRefused

log = logging.getLogger("connector.provider")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT = 15.0
DROP = "aadsys.channel.drop"  # in a websocket's ASGI scope: set, the connection is dropped unread (``_Droppable``)
DROP_GRACE_SECONDS = 2.0  # a dropped connection stays open, unread, for the partner to read why


def channel_app(plane: ProviderPlane) -> ASGIApp:
    """The channel as an ASGI app, to mount at ``/`` + ``SOCKETIO_PATH``."""
    return _Droppable(socketio.ASGIApp(channel_server(plane), socketio_path=SOCKETIO_PATH))


def channel_server(plane: ProviderPlane) -> socketio.AsyncServer:
    """The provider's Socket.IO server, websocket only, with the channel namespace registered.

    A connection's events are handled one at a time, in order (``async_handlers=False``): its transport is read
    only as fast as its events are handled, so a partner that floods its channel makes no more work than one
    event at a time in this process, and the other channels, the API and ``/healthz`` take their turns. With a task
    per event, the reader ran ahead of the handlers, a flood queued thousands of tasks before its first refusal
    took effect, and repeated ``subscribe`` events ran concurrently, each before the other had started the
    delivery they should have joined."""
    sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"], cors_allowed_origins=[],
                               max_http_buffer_size=1024 * 1024, logger=False, engineio_logger=False,
                               async_handlers=False)
    sio.register_namespace(ProviderNamespace(plane))
    return sio


class _Droppable:
    """Lets the provider drop a flooding consumer's websocket instead of closing it in turn.

    A websocket close is a handshake: uvicorn sends its close frame and then reads on, parsing and discarding what
    the partner still sends until it answers or 10 s pass, and a flooder has megabytes waiting on the socket by
    then. A connection whose ``DROP`` event is set has the app's ``websocket.close`` held back and nothing more
    read from it: for ``DROP_GRACE_SECONDS`` the partner may still read what was sent before (the ``flooded``
    answer, ``closing``, the disconnect), and then the app returns without closing, and uvicorn closes the socket
    unread, so that the kernel drops the backlog (a reset)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        dropped = asyncio.Event()

        async def receiving() -> Message:
            message = await receive()
            if not dropped.is_set():
                return message
            await asyncio.sleep(DROP_GRACE_SECONDS)
            return {"type": "websocket.disconnect", "code": 1008}

        async def sending(message: Message) -> None:
            if not (dropped.is_set() and message["type"] == "websocket.close"):
                await send(message)

        await self.app({**scope, DROP: dropped}, receiving, sending)


def _refusal(code: Code, reason: str) -> socketio.exceptions.ConnectionRefusedError:
    """Refuses a connect; the consumer's ``connect_error`` gets ``{message, data: {code, reason}}``."""
    return socketio.exceptions.ConnectionRefusedError(reason, {"code": code, "reason": reason})


class _SocketIOConsumer:
    """``ConsumerLink`` of one Socket.IO connection."""

    def __init__(self, namespace: ProviderNamespace, sid: str, dropped: asyncio.Event | None) -> None:
        self.namespace, self.sid, self.dropped = namespace, sid, dropped

    async def send(self, event: str, data: dict[str, Any], on_ack: TierOne | None = None) -> None:
        await self.namespace.emit(event, data, to=self.sid, callback=on_ack)

    async def close(self, *, drop: bool = False) -> None:
        """Disconnect the namespace, then end the Engine.IO connection under it and its websocket.

        A namespace disconnect alone leaves the websocket open, and python-socketio goes on reading, decoding and
        dropping whatever the partner still sends on it: a flooder told to go would go on costing us its flood.
        ``None`` in the Engine.IO socket's queue is how python-engineio itself ends a connection's writer: it sends
        what is queued before it (``closing``, the disconnect), then closes the websocket, and the reader ends with
        the partner's answer. With ``drop`` the websocket is dropped unread instead (``_Droppable``)."""
        if drop and self.dropped is not None:
            self.dropped.set()
        server = self.namespace.server
        eio_sid = server.manager.eio_sid_from_sid(self.sid, NAMESPACE)
        with contextlib.suppress(Exception):  # gone already
            await self.namespace.disconnect(self.sid)
        socket = server.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if socket is not None:
            socket.queue.put_nowait(None)


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
            await self.plane.connect(sid, _SocketIOConsumer(self, sid, environ.get("asgi.scope", {}).get(DROP)),
                                     auth, peer)
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
