"""The connector's figures read from the database at each scrape of ``GET /metrics`` (``connector._metrics`` has
the counted ones): the same in every worker, so never summed; two queries, whatever the number of subscriptions.

    aadsys_connector_subscription_active{subscription, role}   1 while the ledger row is approved or active and,
                                                               for real-time, inside its window; else 0
    aadsys_connector_lag_seqs{subscription}                    provider, active subscriptions: last seq made
                                                               minus last seq confirmed stored

Apart from ``connector._metrics`` because it reads the data plane's figures (``connector.data._figures``), which
the control plane, counting through ``connector._metrics`` too, may not import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector._rows import Rows
from connector._status import subscription_views
from connector.data import _figures
from connector.spi import GRANT_STATES, Mode, Role, SubscriptionView

log = logging.getLogger("connector")


def active(view: SubscriptionView, now: datetime) -> bool:
    """A channel should run: the ledger says approved or active and, for real-time, now is inside the window."""
    if view.state not in GRANT_STATES:
        return False
    return view.mode is Mode.HISTORICAL or view.valid_from <= now < view.valid_to


class SubscriptionFigures(Collector):
    """``aadsys_connector_subscription_active`` and ``aadsys_connector_lag_seqs``, read at each scrape. A database
    that does not answer leaves them out of that scrape (``aadsys_ready`` says why), rather than failing it."""

    def __init__(self, rows: Rows, now: Callable[[], datetime]) -> None:
        self.rows, self.now = rows, now

    def describe(self) -> Iterator[Metric]:
        """Names without reading anything (the registry asks when the collector is added)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        active_family, lag_family = self._families()
        try:
            views = [view for view, _, _ in subscription_views(self.rows)]
            tops = _figures.provider_tops(self.rows)
        except Exception as exc:
            log.warning("connector figures for /metrics not read: %s", exc)
            return
        now = self.now()
        for view in views:
            is_active = active(view, now)
            active_family.add_metric([view.id, view.role.value], 1 if is_active else 0)
            if is_active and view.role is Role.PROVIDER:
                made, stored = tops.get(view.id, (0, 0))
                lag_family.add_metric([view.id], made - stored)
        yield active_family
        yield lag_family

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("aadsys_connector_subscription_active", "1 while the subscription is approved or "
                                  "active and, for real-time, inside its window", labels=["subscription", "role"]),
                GaugeMetricFamily("aadsys_connector_lag_seqs", "Provider: last seq made minus last seq confirmed "
                                  "stored, per active subscription", labels=["subscription"]))
