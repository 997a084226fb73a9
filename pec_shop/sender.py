"""The outbox sender: delivers each queued order's Sales Order (and label image first) to PEC's AAdSys.

One task per app works the queue oldest first, so there are never two POSTs in flight for one order. When more
than one order waits (a backlog: the AAdSys was away, or orders came faster than single POSTs go), the oldest
``send_batch`` go in one bulk request, their label images first, and each order gets its own record's answer.
Every attempt posts the body fixed when the order was placed, under the same key, so the AAdSys's idempotent POST
makes a repeat after a lost answer or a restart harmless: an order is neither lost nor doubled. While the AAdSys
is unreachable or answers 5xx/401/403/408/429, the order stays queued and the sender waits ``retry_seconds``,
doubling up to ``retry_max_seconds``; a newly placed order wakes it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

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
            orders = await asyncio.to_thread(self._oldest_queued, self.settings.send_batch)
            if not orders:
                await placed.wait(seen, self.settings.poll_seconds)
                continue
            try:
                answers = await self.deliver_many(orders) if len(orders) > 1 else [await self.deliver(orders[0])]
            except Exception as exc:  # a database hiccup must not end the sender; the orders stay queued
                log_event(logging.ERROR, "sender_error", order_id=orders[0].order_id, orders=len(orders),
                          error=repr(exc))
                answers = [Answer(Outcome.RETRY, repr(exc))]
            retried = [(order, answer) for order, answer in zip(orders, answers, strict=False)
                       if answer.outcome is Outcome.RETRY]
            for order, answer in retried:
                log_event(logging.WARNING, "delivery_retry", order_id=order.order_id, attempts=order.attempts + 1,
                          retry_in=f"{delay:g}s", reason=answer.detail)
            if retried:
                await placed.wait(seen, delay)
                delay = min(delay * 2, self.settings.retry_max_seconds)
            else:
                delay = self.settings.retry_seconds

    async def deliver(self, order: Order) -> Answer:
        """One attempt: the label image, then the Sales Order; the outcome is recorded before returning."""
        answer = await self._upload_label(order)
        if answer.outcome is Outcome.ACCEPTED:
            answer = await self.client.post_instance("sales-order", order.sales_order_json.encode())
        await asyncio.to_thread(self._record, order.order_id, answer)
        self.changes.order_changed.fire()
        return answer

    async def deliver_many(self, orders: Sequence[Order]) -> list[Answer]:
        """One attempt for a backlog, oldest first: the label images, then the Sales Orders in one bulk request. An
        answer per order tried, in order, each recorded before returning: an image that cannot go now ends the
        attempt there (younger orders wait behind it, as they do one by one)."""
        answers: list[Answer] = []
        for order in orders:
            answer = await self._upload_label(order)
            answers.append(answer)
            if answer.outcome is Outcome.RETRY:
                break
        posting = [order for order, answer in zip(orders, answers, strict=False) if answer.outcome is Outcome.ACCEPTED]
        if posting:
            posted = await self.client.post_instances("sales-order",
                                                      [order.sales_order_json.encode() for order in posting])
            if posted is None:  # not taken as a bulk request: each order on its own, as before
                log_event(logging.WARNING, "bulk_refused", orders=len(posting))
                posted = [await self.client.post_instance("sales-order", order.sales_order_json.encode())
                          for order in posting]
            else:
                log_event(logging.INFO, "orders_sent_bulk", orders=len(posting))
            by_order = dict(zip((order.order_id for order in posting), posted, strict=True))
            answers = [by_order.get(order.order_id, answer) for order, answer in zip(orders, answers, strict=False)]
        for order, answer in zip(orders, answers, strict=False):
            await asyncio.to_thread(self._record, order.order_id, answer)
        self.changes.order_changed.fire()
        return answers

    async def _upload_label(self, order: Order) -> Answer:
        """The order's label image, if it has one; accepted when there is none."""
        if not order.label_sha256:
            return Answer(Outcome.ACCEPTED, "")
        image = await asyncio.to_thread(self._image, order.label_sha256)
        answer = await self.client.upload_file(image.data, image.content_type, image.sha256)
        if answer.outcome is Outcome.REFUSED:
            return Answer(Outcome.REFUSED, f"label image refused: {answer.detail}", answer.status)
        return answer

    def _oldest_queued(self, limit: int) -> list[Order]:
        with self.db.session() as session:
            return list(session.exec(select(Order).where(Order.delivery == Delivery.QUEUED)
                                     .order_by(col(Order.placed_at), col(Order.id)).limit(limit)).all())

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
