"""Prometheus figures of the portal (``GET /metrics``, for the metrics bearer token only).

Counted by this process (summed over the portal's workers when ``PROMETHEUS_MULTIPROC_DIR`` is set,
prometheus-client's multiprocess mode)::

    abm_portal_logins_total{outcome}                  people's web logins: ok | failed | throttled
    abm_portal_client_authentications_total{outcome}  connectors at /oauth/token: ok | failed | throttled
    abm_portal_tokens_issued_total{kind}              access (connectors) | personal (people's scripts)
    abm_portal_grants_issued_total                    grant JWTs issued
    abm_portal_sweep_runs_total{outcome}              expiry sweeps: ok | failed
    abm_portal_subscriptions_expired_total            real-time subscriptions the sweep recorded as expired

Read from the database at scrape time (the same in every worker, never summed)::

    abm_portal_subscriptions{state}                   subscriptions by the state readers see (a closed real-time
                                                      window reads as expired before the sweep records it)
    abm_portal_transfers{state}                       historical transfer jobs by state
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
from sqlalchemy import case, func
from sqlmodel import col, select
from starlette.requests import HTTPConnection

from abm_portal.clock import utcnow
from abm_portal.db import Database
from abm_portal.models import Subscription, TransferJob
from abm_portal.services import lifecycle

OUTCOMES = ("ok", "failed", "throttled")


class PortalMetrics:
    def __init__(self, database: Database) -> None:
        self.registry = CollectorRegistry()
        self.logins = self._counter("abm_portal_logins", "People's web logins by outcome: ok, failed, throttled",
                                    ["outcome"])
        self.client_authentications = self._counter("abm_portal_client_authentications", "Connector client "
                                                     "authentications at /oauth/token: ok, failed, throttled",
                                                     ["outcome"])
        self.tokens_issued = self._counter("abm_portal_tokens_issued", "Tokens issued: access (connectors), "
                                           "personal (people's scripts)", ["kind"])
        self.grants_issued = self._counter("abm_portal_grants_issued", "Grant JWTs issued", [])
        self.sweep_runs = self._counter("abm_portal_sweep_runs", "Expiry sweeps by outcome: ok, failed", ["outcome"])
        self.expired_by_sweep = self._counter("abm_portal_subscriptions_expired", "Real-time subscriptions the "
                                              "sweep recorded as expired", [])
        self.states = StatesNow(database)

    def _counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def exposition(self) -> bytes:
        counted: Collector = self.registry
        if getattr(values.ValueClass, "_multiprocess", False):  # PROMETHEUS_MULTIPROC_DIR: every worker's files
            counted = CollectorRegistry()
            MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        return generate_latest(counted) + generate_latest(self.states)


def metrics_of(connection: HTTPConnection) -> PortalMetrics:
    """The metrics of the app serving this request (pages and API alike)."""
    metrics: PortalMetrics = connection.app.state.portal.metrics
    return metrics


class StatesNow(Collector):
    """Subscriptions and transfer jobs by state, counted in the database at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        state = case((lifecycle.due_for_expiry(now), lifecycle.SubscriptionState.expired.value),
                     else_=col(Subscription.state))
        with self.database.session() as db:
            subscriptions = dict(db.exec(select(state, func.count()).group_by(state)).all())
            transfers = dict(db.exec(select(TransferJob.state, func.count()).group_by(col(TransferJob.state))).all())
        for name, documentation, counts, states in (
                ("abm_portal_subscriptions", "Subscriptions by the state readers see", subscriptions,
                 lifecycle.SUBSCRIPTION_STATES),
                ("abm_portal_transfers", "Historical transfer jobs by state", transfers, lifecycle.TRANSFER_STATES)):
            family = GaugeMetricFamily(name, documentation, labels=["state"])
            for known in states:  # every state, 0 included: an alert on a state needs the series to exist
                family.add_metric([known.value], counts.get(known.value, 0))
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
