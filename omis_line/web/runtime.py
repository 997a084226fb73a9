"""What one serving process runs: the database, the AAdSys client, the line and its background tasks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx

from omis_line.config import Settings
from omis_line.db import Database
from omis_line.line import Line
from omis_line.metrics import LineMetrics
from omis_line.order_follower import OrderFollower
from omis_line.status_outbox import StatusSender
from omis_line.tls import client_context

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    client: httpx.AsyncClient
    line: Line
    follower: OrderFollower
    sender: StatusSender
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def build(cls, settings: Settings, metrics: LineMetrics | None = None) -> Runtime:
        database = Database(settings.resolved_database_url)
        client = httpx.AsyncClient(base_url=settings.aadsys_url, headers={"X-API-Key": settings.api_key()},
                                   timeout=10.0, trust_env=False, verify=client_context(settings.tls_ca_file))
        sender = StatusSender(database, client, retry_max_seconds=settings.retry_max_seconds)
        line = Line(database, settings, on_decided=sender.wake.set, metrics=metrics)
        follower = OrderFollower(database, client, partner=settings.partner,
                                 label_fetch_seconds=settings.label_fetch_seconds,
                                 retry_max_seconds=settings.retry_max_seconds, on_taken=line.wake.set)
        return cls(settings, database, client, line, follower, sender)

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.line.recover()
        for name, work in (("line", self.line.run()), ("order follower", self.follower.run()),
                           ("status sender", self.sender.run())):
            task = asyncio.create_task(work, name=name)
            task.add_done_callback(_report_crash)
            self.tasks.append(task)

    def nudge(self) -> None:
        """Wake the line and the sender from another thread (e.g. after writing orders from outside the loop)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.line.wake.set)
            self.loop.call_soon_threadsafe(self.sender.wake.set)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.line.stop()
        await self.client.aclose()
        self.database.dispose()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=task.exception())
