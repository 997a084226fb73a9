"""Tasks under one owner (``asyncio.TaskGroup``), whose failures are logged, never lost and never contagious.

A TaskGroup cancels every sibling when one child fails: right for one job, wrong for a connector, where one
subscription's broken flow must not end the others'. So every child runs ``guarded``: its failure is logged
with its traceback, and the child ends (or, under ``restarting``, starts again after a pause), while its
group and siblings run on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from connector._clock import Clock

log = logging.getLogger("connector")


async def guarded(work: Awaitable[None], name: str) -> None:
    try:
        await work
    except Exception:
        log.exception("%s failed", name)


async def restarting(work: Callable[[], Awaitable[None]], name: str, clock: Clock, pause: float = 1.0) -> None:
    """Run ``work`` again whenever it fails, ``pause`` seconds later; it ends when ``work`` returns."""
    while True:
        try:
            await work()
            return
        except Exception:
            log.exception("%s failed; starting it again in %g s", name, pause)
        await clock.sleep(pause)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has ended: nothing cancelled is left un-awaited (a task cancelling
    itself only asks: it ends at its next await)."""
    if task is None or task.done():
        return
    task.cancel()
    if task is not asyncio.current_task():
        await asyncio.wait({task})


def first_error(error: BaseException) -> BaseException:
    """The first error inside (nested) exception groups: a TaskGroup wraps what its body or a child raised."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def run_forever() -> None:
    """The body of a group that lives until its owner cancels it."""
    await asyncio.Event().wait()
