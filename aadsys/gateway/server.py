"""The gateway's uvicorn server, which tells the app the moment it is asked to exit.

uvicorn's graceful shutdown first waits for open connections to end and only then runs the lifespan's shutdown.
An AAdSys always has some open: event streams (the shop and the line follow them) and the connector's websocket
channels, which end only when the app ends them. So on SIGTERM or Ctrl-C this server calls the app's
``begin_shutdown`` first (streams end, channels close), and the wait that follows is short;
``timeout_graceful_shutdown`` bounds it whatever happens.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

GRACE_SECONDS = 5


class GatewayServer(uvicorn.Server):
    def __init__(self, app: FastAPI, **config: Any) -> None:
        super().__init__(uvicorn.Config(app, timeout_graceful_shutdown=GRACE_SECONDS, **config))
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None and not self.should_exit:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.app.state.begin_shutdown()))
        super().handle_exit(sig, frame)
