"""Follows OMIS's AAdSys event stream of Sales Orders and hands the partner's new orders to the ERP.

Resumes with ``Last-Event-ID`` from the database (``after=0`` the first time); each event's position is stored
in the transaction of its effect, so a restart neither loses nor repeats an order.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from omis_line import erp
from omis_line.db import Database
from omis_line.erp import FetchedLabel
from omis_line.models import SalesOrder

log = logging.getLogger(__name__)


class OrderFollower:
    def __init__(self, database: Database, client: httpx.AsyncClient, *, partner: str, label_fetch_seconds: float,
                 retry_max_seconds: float, on_taken: Callable[[], None]) -> None:
        self.database = database
        self.client = client
        self.partner = partner
        self.label_fetch_seconds = label_fetch_seconds
        self.retry_max_seconds = retry_max_seconds
        self.on_taken = on_taken
        self.connected = False

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._follow()
                delay = 0.2  # the stream ended cleanly (server restart): reconnect soon
            except (httpx.HTTPError, SSEError) as exc:
                log.warning("Sales Order event stream: %s; reconnecting in %.1f s", exc, delay)
            except Exception:  # a record the ERP cannot read must not end the follower; it is retried
                log.exception("Sales Order event stream: handling an event failed; retrying in %.1f s", delay)
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_seconds)

    async def _follow(self) -> None:
        with self.database.session() as session:
            last = erp.last_event_id(session)
        params: dict[str, Any] = {"assetType": erp.ORDER_STREAM}
        headers: dict[str, str] = {}
        if last is None:
            params["after"] = 0
        else:
            headers["Last-Event-ID"] = str(last)
        async with aconnect_sse(self.client, "GET", "/api/v1/events", params=params, headers=headers,
                                timeout=httpx.Timeout(10.0, read=None)) as source:
            source.response.raise_for_status()
            self.connected = True
            async for event in source.aiter_sse():
                if event.event != "instance" or not event.id:
                    continue
                await self._handle(int(event.id), json.loads(event.data))

    async def _handle(self, event_id: int, head: dict[str, Any]) -> None:
        if head.get("provider") != self.partner:
            with self.database.session() as session:
                erp.skip_event(session, event_id)
            return
        with self.database.session() as session:
            known = session.get(SalesOrder, str(head.get("key"))) is not None
        if known:
            with self.database.session() as session:
                erp.skip_event(session, event_id)
            return
        response = await self.client.get(str(head["href"]))
        response.raise_for_status()
        raw = response.text
        record = erp.parse_record(raw)
        labels: dict[str, FetchedLabel] = {}
        for item in record.get("items", []):
            image = item.get("labelImage")
            if image and image["sha256"] not in labels:
                labels[image["sha256"]] = await self._fetch_label(image["sha256"], image["contentType"])
        with self.database.session() as session:
            if erp.take_order(session, raw, labels, event_id):
                log.info("took Sales Order %s from %s", record.get("orderId"), self.partner)
                self.on_taken()

    async def _fetch_label(self, sha256: str, content_type: str) -> FetchedLabel:
        """The image from the AAdSys; it may lag the record a little, so a 404 is retried for a bounded while."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.label_fetch_seconds
        delay = 0.1
        while True:
            response = await self.client.get(f"/api/v1/files/{sha256}")
            if response.status_code == 200:
                if hashlib.sha256(response.content).hexdigest() == sha256:
                    return FetchedLabel(sha256, content_type, response.content)
                log.error("label image %s: the bytes the AAdSys served hash to something else", sha256)
                return FetchedLabel(sha256, content_type, None)
            if response.status_code != 404:
                response.raise_for_status()
            if loop.time() + delay > deadline:
                log.error("label image %s did not appear at the AAdSys within %.0f s", sha256,
                          self.label_fetch_seconds)
                return FetchedLabel(sha256, content_type, None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

