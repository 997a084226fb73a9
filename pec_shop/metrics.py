"""Prometheus figures of the shop (``GET /metrics``, for the metrics bearer token only).

Counted by this process (summed over processes when ``PROMETHEUS_MULTIPROC_DIR`` is set, prometheus-client's
multiprocess mode)::

    pec_shop_orders_placed_total                 orders customers placed
    pec_shop_send_attempts_total{outcome}        attempts to hand a Sales Order to the AAdSys: sent|refused|retry
    pec_shop_status_events_total                 Sales Order Status events read from the AAdSys's stream
    pec_shop_statuses_received_total            status revisions stored for shop orders

Read from the database at scrape time (the same in every process, never summed)::

    pec_shop_orders{state}                       orders now: queued|refused|sent (no status yet), or the
                                                 partner's status (received, scheduled, in_production, …)
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from pec_shop.db import Database
from pec_shop.models import Delivery, Order


class ShopMetrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.orders_placed = Counter("pec_shop_orders_placed", "Orders placed by customers", registry=self.registry)
        self.send_attempts = Counter("pec_shop_send_attempts", "Attempts to hand a Sales Order to the AAdSys, by "
                                     "outcome: sent, refused, retry", ["outcome"], registry=self.registry)
        self.status_events = Counter("pec_shop_status_events", "Sales Order Status events read from the stream "
                                     "by this process", registry=self.registry)
        self.statuses_received = Counter("pec_shop_statuses_received", "Status revisions stored for shop orders",
                                         registry=self.registry)
        self.orders = OrdersByState(db)

    def exposition(self) -> bytes:
        counted: Collector = self.registry
        if getattr(values.ValueClass, "_multiprocess", False):  # PROMETHEUS_MULTIPROC_DIR: every process's files
            counted = CollectorRegistry()
            MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        return generate_latest(counted) + generate_latest(self.orders)


class OrdersByState(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("pec_shop_orders", "Orders by state: queued, refused, sent (no status yet) or the "
                                   "partner's latest status", labels=["state"])
        with self.db.session() as session:
            rows = session.exec(select(Order.delivery, Order.status, func.count())
                                .group_by(col(Order.delivery), col(Order.status))).all()
        counts: dict[str, int] = {}
        for delivery, status, n in rows:
            state = status if delivery == Delivery.SENT and status else delivery
            counts[state] = counts.get(state, 0) + n
        for state, n in sorted(counts.items()):
            family.add_metric([state], n)
        yield family


class Access(StrEnum):
    GRANTED = "granted"
    NOT_CONFIGURED = "not-configured"  # no token file: /metrics is closed to everyone
    REFUSED = "refused"  # no bearer token, or another one


def bearer_access(authorization: str | None, token_file: Path) -> Access:
    """``Authorization: Bearer <token>`` (RFC 6750 §2.1) against the first line of ``token_file``, read at every
    scrape (a new token needs no restart), compared in constant time."""
    try:
        expected = next(iter(token_file.read_text().splitlines()), "").strip()
    except OSError:
        return Access.NOT_CONFIGURED
    if not expected:
        return Access.NOT_CONFIGURED
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return Access.REFUSED
    return Access.GRANTED
