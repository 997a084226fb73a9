"""Prometheus counters of one shop app (``GET /metrics``), in a registry of its own per app instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ShopMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.orders_placed = Counter("pec_shop_orders_placed", "Orders placed by customers", registry=self.registry)
        self.orders_sent = Counter("pec_shop_orders_sent", "Sales Orders the AAdSys accepted", registry=self.registry)
        self.orders_refused = Counter("pec_shop_orders_refused", "Sales Orders the AAdSys refused",
                                      registry=self.registry)
        self.delivery_retries = Counter("pec_shop_delivery_retries", "Delivery attempts to retry later",
                                        registry=self.registry)
        self.status_events = Counter("pec_shop_status_events", "Sales Order Status events read from the stream "
                                     "by this process", registry=self.registry)
        self.statuses_received = Counter("pec_shop_statuses_received", "Status revisions stored for shop orders",
                                         registry=self.registry)
