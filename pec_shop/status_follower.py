"""The status follower: reads PEC's AAdSys event stream of Sales Order Status and updates the shop's orders.

It takes the events whose ``provider`` is the partner (OMIS's statuses arrive over the connector), fetches the
revision the event points at, and, when the orderId is one of the shop's, stores the revision and the order's new
state together with the event id, in one transaction. After a restart it resumes with ``Last-Event-ID`` from
that stored id, so no event is skipped and none is applied twice (a revision not newer than the stored one is
ignored anyway). A dropped stream or an unreachable AAdSys means reconnecting with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
from httpx_sse import SSEError
from sqlmodel import select

from pec_shop.aadsys_client import AadsysClient, StreamRefused
from pec_shop.changes import Changes
from pec_shop.config import Settings
from pec_shop.db import Database
from pec_shop.logs import log_event
from pec_shop.metrics import ShopMetrics
from pec_shop.models import Order, StatusRevision, StreamPosition, utcnow

ASSET_TYPE = "sales-order-status"


class StatusFollower:
    def __init__(self, db: Database, client: AadsysClient, changes: Changes, settings: Settings,
                 metrics: ShopMetrics) -> None:
        self.db, self.client, self.changes, self.settings, self.metrics = db, client, changes, settings, metrics

    async def run(self) -> None:
        delay = self.settings.retry_seconds
        while True:
            try:
                if await self.follow():
                    delay = self.settings.retry_seconds
                reason = "the stream ended"
            except (httpx.HTTPError, SSEError, StreamRefused, ValueError, KeyError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # the follower must outlive any one bad event or database hiccup
                reason = repr(exc)
                log_event(logging.ERROR, "status_follower_error", error=reason)
            log_event(logging.WARNING, "status_stream_reconnect", retry_in=f"{delay:g}s", reason=reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.retry_max_seconds)

    async def follow(self) -> bool:
        """Follow the stream until it ends or fails; True when it was connected (so the backoff starts over)."""
        last = await asyncio.to_thread(self.last_event_id)
        async with self.client.events(ASSET_TYPE, last) as source:
            log_event(logging.INFO, "status_stream_open", after=last if last is not None else 0)
            async for event in source.aiter_sse():
                if event.event != "instance" or not event.id.isdigit():
                    continue
                await self.handle(int(event.id), json.loads(event.data))
        return True

    async def handle(self, seq: int, head: dict[str, Any]) -> None:
        self.metrics.status_events.inc()
        body = None
        if head.get("provider") == self.settings.partner:
            body = await self.client.get_json(str(head["href"]))  # an error here retries this event later
        stored = await asyncio.to_thread(self._apply, seq, head, body)
        if stored:
            self.metrics.statuses_received.inc()
            self.changes.order_changed.fire()

    def last_event_id(self) -> int | None:
        with self.db.session() as session:
            position = session.get(StreamPosition, ASSET_TYPE)
            return position.last_event_id if position else None

    def _apply(self, seq: int, head: dict[str, Any], body: dict[str, Any] | None) -> bool:
        """The event's effect and the new stream position, in one transaction; True when a revision was stored."""
        stored = False
        with self.db.session() as session:
            position = session.get(StreamPosition, ASSET_TYPE)
            if position is not None and seq <= position.last_event_id:
                return False  # seen before the stream was resumed (a second follower, or a replayed event)
            if body is not None:
                stored = self._store_revision(session, int(head["revision"]), body)
            position = position or StreamPosition(stream=ASSET_TYPE, last_event_id=seq)
            position.last_event_id, position.updated_at = seq, utcnow()
            session.add(position)
            session.commit()
        return stored

    def _store_revision(self, session: Any, revision: int, body: dict[str, Any]) -> bool:
        order_id = body.get("orderId")
        order = session.exec(select(Order).where(Order.order_id == order_id)).first()
        if order is None:
            log_event(logging.INFO, "status_skipped", order_id=order_id, revision=revision, reason="not our order")
            return False
        if order.status_revision is not None and revision <= order.status_revision:
            return False
        status, station = str(body["status"]), body.get("currentStation")
        session.add(StatusRevision(order_id=order.order_id, revision=revision, status=status,
                                   current_station=station, body=body))
        order.status, order.status_revision, order.current_station = status, revision, station
        order.rfid_tag, order.status_updated_at = body.get("rfidTag"), body.get("updatedAt")
        order.trace = list(body.get("trace") or [])
        session.add(order)
        log_event(logging.INFO, "status_received", order_id=order.order_id, revision=revision, status=status,
                  station=station)
        return True
