"""The outbox sender: delivers each queued order's Sales Order (and label image first) to PEC's AAdSys.

One task per app works the queue oldest first, one order at a time, so there are never two POSTs in flight for
one order. Every attempt posts the body fixed when the order was placed, under the same key, so the AAdSys's
idempotent POST makes a repeat after a lost answer or a restart harmless: an order is neither lost nor doubled.
While the AAdSys is unreachable or answers 5xx/401/403/408/429, the order stays queued and the sender waits
``retry_seconds``, doubling up to ``retry_max_seconds``; a newly placed order wakes it at once.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import col, select

from pec_shop.aadsys_client import AadsysClient, Answer, Outcome
from pec_shop.changes import Changes
from pec_shop.config import Settings
from pec_shop.db import Database
from pec_shop.logs import log_event
from pec_shop.metrics import ShopMetrics
from pec_shop.models import Delivery, LabelImage, Order, utcnow


class Sender:
    def __init__(self, db: Database, client: AadsysClient, changes: Changes, settings: Settings,
                 metrics: ShopMetrics) -> None:
        self.db, self.client, self.changes, self.settings, self.metrics = db, client, changes, settings, metrics

    async def run(self) -> None:
        delay = self.settings.retry_seconds
        placed = self.changes.order_placed
        while True:
            seen = placed.generation
            order = await asyncio.to_thread(self._oldest_queued)
            if order is None:
                await placed.wait(seen, self.settings.poll_seconds)
                continue
            try:
                answer = await self.deliver(order)
            except Exception as exc:  # a database hiccup must not end the sender; the order stays queued
                log_event(logging.ERROR, "sender_error", order_id=order.order_id, error=repr(exc))
                answer = Answer(Outcome.RETRY, repr(exc))
            if answer.outcome is Outcome.RETRY:
                log_event(logging.WARNING, "delivery_retry", order_id=order.order_id, attempts=order.attempts + 1,
                          retry_in=f"{delay:g}s", reason=answer.detail)
                await placed.wait(seen, delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)
            else:
                delay = self.settings.retry_seconds

    async def deliver(self, order: Order) -> Answer:
        """One attempt: the label image, then the Sales Order; the outcome is recorded before returning."""
        answer = Answer(Outcome.ACCEPTED, "")
        if order.label_sha256:
            image = await asyncio.to_thread(self._image, order.label_sha256)
            answer = await self.client.upload_file(image.data, image.content_type, image.sha256)
            if answer.outcome is Outcome.REFUSED:
                answer = Answer(Outcome.REFUSED, f"label image refused: {answer.detail}", answer.status)
        if answer.outcome is Outcome.ACCEPTED:
            answer = await self.client.post_instance("sales-order", order.sales_order_json.encode())
        await asyncio.to_thread(self._record, order.order_id, answer)
        self.changes.order_changed.fire()
        return answer

    def _oldest_queued(self) -> Order | None:
        with self.db.session() as session:
            return session.exec(select(Order).where(Order.delivery == Delivery.QUEUED)
                                .order_by(col(Order.placed_at), col(Order.id)).limit(1)).first()

    def _image(self, sha256: str) -> LabelImage:
        with self.db.session() as session:
            image = session.get(LabelImage, sha256)
            if image is None:  # the foreign key makes this impossible short of hand-editing the database
                raise RuntimeError(f"label image {sha256} of a queued order is missing from the database")
            return image

    def _record(self, order_id: str, answer: Answer) -> None:
        with self.db.session() as session:
            order = session.exec(select(Order).where(Order.order_id == order_id)).one()
            if order.delivery != Delivery.QUEUED:
                return  # another sender (a second process) finished it meanwhile
            order.attempts += 1
            if answer.outcome is Outcome.ACCEPTED:
                order.delivery, order.sent_at, order.delivery_error = Delivery.SENT, utcnow(), None
            elif answer.outcome is Outcome.REFUSED:
                order.delivery, order.delivery_error = Delivery.REFUSED, answer.detail
            else:
                order.delivery_error = answer.detail  # shown as the reason it is still queued
            session.add(order)
            session.commit()
        if answer.outcome is Outcome.ACCEPTED:
            self.metrics.send_attempts.labels(outcome="sent").inc()
            log_event(logging.INFO, "order_sent", order_id=order_id, status=answer.status, attempts=order.attempts)
        elif answer.outcome is Outcome.REFUSED:
            self.metrics.send_attempts.labels(outcome="refused").inc()
            log_event(logging.WARNING, "order_refused", order_id=order_id, status=answer.status, reason=answer.detail)
        else:
            self.metrics.send_attempts.labels(outcome="retry").inc()
