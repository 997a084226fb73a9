"""The transport seam of the channel (the role of httpx's ``BaseTransport``): what delivery and reception need
of a connection, and nothing of how it is made.

The real transport is Socket.IO over websockets plus two HTTP routes (``connector.data._socketio``); tests join
two planes in memory with a manual clock (``tests/connector/channel_pair.py``), so the window, re-sends,
replays and refusals are tested without processes, sockets or sleeps.

Provider side: a transport hands each consumer connection to ``ProviderPlane`` (``connect``, one method per
event, ``disconnected``) together with a ``ConsumerLink`` to answer it on.

Consumer side: ``Reception`` reaches its provider through a ``ProviderPeer`` (made by a ``Dialer`` from the
endpoint the portal lists): a challenge, the channel itself (a ``Channel``, whose events arrive at a
``Receiver``) and one-time link downloads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

TierOne = Callable[..., None]  # called with the consumer's ack when an ``instance`` arrived (tier 1)


class ConsumerLink(Protocol):
    """The provider's handle of one consumer connection."""

    async def send(self, event: str, data: dict[str, Any], on_ack: TierOne | None = None) -> None:
        """Send an event; ``on_ack`` is called with the consumer's answer, if and when it comes."""

    async def close(self, *, drop: bool = False) -> None:
        """Disconnect the consumer (it hears ``disconnected``); with ``drop`` (it floods), what it still sends is
        dropped unread rather than read until it closes in turn."""


class Receiver(Protocol):
    """The consumer's handlers of the provider's events on one open channel."""

    def on_instance(self, data: Any) -> dict[str, Any]:
        """Tier 1: the answer is the ack the provider hears."""

    async def on_history_complete(self, data: Any) -> dict[str, Any]: ...

    def on_closing(self, data: Any) -> None: ...

    def on_disconnect(self) -> None: ...


class Channel(Protocol):
    """The consumer's handle of an open channel."""

    @property
    def connected(self) -> bool: ...

    async def call(self, event: str, data: dict[str, Any], timeout: float) -> Any:
        """Send an event and wait for the provider's answer; ``ChannelDown`` if none comes in time."""

    async def emit(self, event: str, data: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class ProviderPeer(Protocol):
    """How a consumer reaches one provider. Refusals raise ``ChannelRefused``; an unreachable or broken
    connection raises ``ChannelDown``."""

    async def challenge(self, grant: str) -> str:
        """A fresh nonce for this grant."""

    async def open(self, auth: dict[str, Any], receiver: Receiver) -> Channel:
        """Connect with ``{grant, nonce, proof}``; the provider's events go to ``receiver``."""

    def download(self, token: str, proof: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """A one-time link's content, streamed; ``LinkRefused`` if the provider will not serve it."""


Dialer = Callable[[str], ProviderPeer]  # the provider's endpoint (as the portal lists it) -> its peer
