"""The system clock's wait: a task cancelled as its event is set ends cancelled.

Python 3.11's ``asyncio.wait_for`` returns the inner result when a cancellation and the inner future's completion
meet in one turn of the loop, and the cancellation is lost. A sender whose wait swallowed it would loop on, and the
``cancel_and_wait`` of a new ``subscribe`` would wait for it for ever, with the channel's events unread behind it:
so a flooding partner was once never refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from aadsys.core.events import InstanceEvents
from connector._clock import SystemClock

pytestmark = pytest.mark.anyio

Wait = Callable[[asyncio.Event, float], Awaitable[object]]


async def _cancelled_as_set(wait: Wait) -> asyncio.Task[None]:
    event = asyncio.Event()

    async def waiting_for_ever() -> None:
        while True:
            event.clear()
            await wait(event, 30.0)

    task = asyncio.create_task(waiting_for_ever())
    await asyncio.sleep(0)  # the task is waiting now
    event.set()
    task.cancel()
    await asyncio.wait({task}, timeout=2.0)
    return task


@pytest.mark.parametrize("wait", [SystemClock().wait, InstanceEvents.wait], ids=["clock", "commit-events"])
async def test_a_wait_cancelled_in_the_turn_its_event_is_set_ends_cancelled(wait: Wait) -> None:
    task = await _cancelled_as_set(wait)
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=2.0)
        pytest.fail("the cancellation was swallowed: the waiting task went on")
    assert task.cancelled()


async def test_a_wait_still_times_out_and_still_sees_its_event() -> None:
    clock, event = SystemClock(), asyncio.Event()
    assert await clock.wait(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await clock.wait(event, 5.0) is True
