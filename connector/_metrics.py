"""The connector's Prometheus figures, on its AAdSys's ``GET /metrics`` (how figures work: ``aadsys.metrics``).

``ConnectorMetrics`` holds the **counted** figures. The connector makes one in ``attach`` from ``context.metrics``
and hands it to the parts where each event happens: the planes, the leases, the links, the refusals. Every process
counts its own; with ``PROMETHEUS_MULTIPROC_DIR`` set, the exposition adds up all workers::

    aadsys_connector_deliveries_total{subscription, event}   provider: made | sent | resent | stored | expired
                                                             consumer: received (records newly stored)
    aadsys_connector_refusals_total{code, side}              side: provider | consumer
    aadsys_connector_link_downloads_total{kind, result}      kind: payload | file | unknown;
                                                             result: ok | not-found | forbidden | gone
    aadsys_connector_bytes_total{direction}                  record payload bytes: sent | received
    aadsys_connector_lease_takeovers_total                   leases taken from a holder whose lease had run out
    aadsys_connector_fenced_writes_total                     writes a fence refused (a paused holder's)
    aadsys_connector_channel_up{subscription, role}          gauge: 1 while the channel is connected
                                                             (multiprocess mode livemax: up in any worker)
    aadsys_connector_portal_reachable                        gauge: the last portal round reached it
                                                             (multiprocess mode livemostrecent)

``connector._subscription_figures.SubscriptionFigures`` adds the **read** ones: computed from the database at
scrape time, the same in every worker and so never summed, in two queries whatever the number of subscriptions::

    aadsys_connector_subscription_active{subscription, role} 1 while the ledger row is approved or active and,
                                                             for real-time, inside its window; else 0
    aadsys_connector_lag_seqs{subscription}                  provider, active subscriptions: last seq made
                                                             minus last seq confirmed stored

Labels stay bounded: subscription ids come from the ledger, codes from ``connector.codes``; never a peer's
address, a token or a key. This module imports nothing of either plane: both count through it.
"""

from __future__ import annotations

from enum import StrEnum

from aadsys.metrics import Metrics
from connector.spi import Role


class Event(StrEnum):
    """What happened to deliveries: the ``event`` label of ``aadsys_connector_deliveries_total``."""

    MADE = "made"  # outbox rows made for records owed (provider)
    SENT = "sent"  # pending -> sent: sent on a channel (again after the consumer reconnected without confirming)
    RESENT = "resent"  # sent once more on the same channel: not confirmed stored in time, or asked for again
    STORED = "stored"  # the consumer confirmed them stored (tier 2)
    EXPIRED = "expired"  # past their TTL unstored
    RECEIVED = "received"  # records the consumer stored newly (repeats it already had are not counted)


class Direction(StrEnum):
    SENT = "sent"
    RECEIVED = "received"


class LinkResult(StrEnum):
    """How a one-time link's use ended (``connector.data._links.Links.consume``)."""

    OK = "ok"
    NOT_FOUND = "not-found"  # 404: no such token
    FORBIDDEN = "forbidden"  # 403: not the subscribed consumer's proof
    GONE = "gone"  # 410: used, expired, or its subscription ended


UNKNOWN_KIND = "unknown"  # the kind of a link nobody issued


class ConnectorMetrics:
    """The connector's counted figures in one AAdSys's registry (``Metrics``): one per connector."""

    def __init__(self, metrics: Metrics) -> None:
        self.deliveries = metrics.counter(
            "aadsys_connector_deliveries", "Deliveries by subscription and event: made, sent, resent, stored, "
            "expired (provider); received, newly stored (consumer)", ["subscription", "event"])
        self.refusals = metrics.counter(
            "aadsys_connector_refusals", "Refused channel attempts, messages and link uses, by code and side",
            ["code", "side"])
        self.link_downloads = metrics.counter(
            "aadsys_connector_link_downloads", "Uses of one-time links by link kind and result", ["kind", "result"])
        self.bytes = metrics.counter(
            "aadsys_connector_bytes", "Record payload bytes sent (each send) and received (each record opened)",
            ["direction"])
        self.lease_takeovers = metrics.counter(
            "aadsys_connector_lease_takeovers", "Leases taken over from a worker whose lease had run out", [])
        self.fenced_writes = metrics.counter(
            "aadsys_connector_fenced_writes", "Writes refused because the writer's lease was taken over", [])
        self.channel_up = metrics.gauge(
            "aadsys_connector_channel_up", "1 while the subscription's channel is connected in this role",
            ["subscription", "role"], mode="livemax")
        self.portal_reachable = metrics.gauge(
            "aadsys_connector_portal_reachable", "1 when the last round reached the ABM Portal, else 0", [],
            mode="livemostrecent")

    def delivered(self, subscription_id: str, event: Event, count: int = 1) -> None:
        if count:
            self.deliveries.labels(subscription_id, event.value).inc(count)

    def refused(self, code: str, side: Role) -> None:
        self.refusals.labels(code, side.value).inc()

    def link_used(self, kind: str, result: LinkResult) -> None:
        self.link_downloads.labels(kind, result.value).inc()

    def payload(self, direction: Direction, size: int) -> None:
        if size:
            self.bytes.labels(direction.value).inc(size)

    def lease_taken_over(self) -> None:
        self.lease_takeovers.inc()

    def write_fenced(self) -> None:
        self.fenced_writes.inc()

    def channel(self, subscription_id: str, role: Role, *, up: bool) -> None:
        self.channel_up.labels(subscription_id, role.value).set(1 if up else 0)

    def portal(self, *, reachable: bool) -> None:
        self.portal_reachable.set(1 if reachable else 0)
