"""In-process signals: "an order changed" (order pages listening live) and "an order was placed" (the sender).

Setters may run in worker threads (the sync routes and database work), so signals cross into the event loop
with ``call_soon_threadsafe``. Listeners also re-read the database on a timeout, so changes made by another
process are seen too, only later.
"""

from __future__ import annotations

import asyncio
import contextlib


class Signal:
    """A broadcast with a generation count: take ``generation`` before reading the state, then ``wait(seen)``
    returns at once if it fired in between, else on the next fire (True) or the timeout (False)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def fire(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._fire()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        # Swap in a fresh event, so waiters that come later wait for the next fire, not this one.
        self._generation += 1
        if self._event is not None:
            event, self._event = self._event, asyncio.Event()
            event.set()

    async def wait(self, seen: int, timeout: float) -> bool:
        if self._generation != seen:
            return True
        if self._event is None:
            await asyncio.sleep(timeout)
            return False
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                await self._event.wait()
            return True
        except TimeoutError:
            return False


class Changes:
    def __init__(self) -> None:
        self.order_changed = Signal()
        self.order_placed = Signal()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.order_changed.bind(loop)
        self.order_placed.bind(loop)
