"""Prometheus metrics of one AAdSys (``GET /metrics``): what the gateway counts, and where extensions add theirs.

Two kinds of figures, kept apart because several worker processes must add up (DESIGN §10):

- **Counted** ones (counters, histograms, gauges of this process) live in ``registry``. With
  ``PROMETHEUS_MULTIPROC_DIR`` set in the environment of every worker (prometheus-client's own switch, read by the
  library when it is imported), each process writes them to files there and the exposition sums the files of all
  processes; every gauge therefore names its ``multiprocess_mode``.
- **Read** ones are computed at scrape time from shared state (the database), by collectors added with
  ``add_collector``: the same in every worker, so they are never summed. ``aadsys_ready`` is one.

The gateway's own figures::

    aadsys_http_requests_total{method, route, status}        route = the route TEMPLATE, never the raw path
    aadsys_http_request_duration_seconds{method, route}      histogram, until the response body ended
    aadsys_http_requests_in_flight                           gauge (multiprocess: livesum)
    aadsys_instances_created_total{asset_type}               own records newly stored (repeats are not counted)
    aadsys_ready                                             1 when every readiness check passes, else 0

An extension (the connector) adds its figures in ``attach`` through ``context.metrics``: ``counter``, ``gauge``
and ``histogram`` for counted ones, ``add_collector`` for read ones, ``readiness.add_check`` for readiness.
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

GaugeMode = Literal["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent",
                    "livemostrecent"]
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")  # a path parameter of a route template, e.g. {type} or {path:path}
ROUTE_KEY = "aadsys.route"  # a scope key for answers given before routing (``StoredReads``): their route template
UNMATCHED = "unmatched"  # the route label of requests no route took (404s): never the raw path
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_mode() -> bool:
    """Whether prometheus-client writes values to ``PROMETHEUS_MULTIPROC_DIR`` (chosen when it was imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Readiness(Collector):
    """``aadsys_ready``: 1 when every check passes at scrape time. A check that raises counts as failing."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}

    def add_check(self, name: str, check: Callable[[], bool]) -> None:
        """``check`` answers quickly (it runs at every scrape) whether the part ``name`` does its work."""
        self._checks[name] = check

    def failing(self) -> list[str]:
        failed = []
        for name, check in self._checks.items():
            try:
                ok = check()
            except Exception:
                ok = False
            if not ok:
                failed.append(name)
        return failed

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("aadsys_ready", "1 when every readiness check passes (database reachable, and what "
                                "extensions add), else 0", value=0 if self.failing() else 1)


class Metrics:
    """The metrics of one AAdSys app; ``exposition()`` is the body of ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._read = CollectorRegistry(auto_describe=True)
        self.readiness = Readiness()
        self.add_collector(self.readiness)
        self.requests = self.counter("aadsys_http_requests", "HTTP requests answered, by route template and status",
                                     ["method", "route", "status"])
        self.latency = self.histogram("aadsys_http_request_duration_seconds", "Time from a request's arrival to "
                                      "the end of its response body", ["method", "route"], buckets=LATENCY_BUCKETS)
        self.in_flight = self.gauge("aadsys_http_requests_in_flight", "HTTP requests being answered now", [],
                                    mode="livesum")
        self.instances_created = self.counter("aadsys_instances_created", "Own records newly stored, by asset "
                                              "type (idempotent repeats are not counted)", ["asset_type"])

    # -- what extensions use -------------------------------------------------------------------------------------
    def counter(self, name: str, documentation: str, labels: Sequence[str]) -> Counter:
        """A counter in this app's registry; ``name`` without ``_total`` (the exposition adds it)."""
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str], *, mode: GaugeMode) -> Gauge:
        """A gauge this process sets; ``mode`` says how workers' values combine (e.g. ``livesum``, ``max``)."""
        return Gauge(name, documentation, labels, registry=self.registry, multiprocess_mode=mode)

    def histogram(self, name: str, documentation: str, labels: Sequence[str],
                  buckets: Sequence[float] = LATENCY_BUCKETS) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry, buckets=buckets)

    def add_collector(self, collector: Collector) -> None:
        """A collector that reads shared state at scrape time (not summed over workers)."""
        self._read.register(collector)

    # -- what the gateway uses -----------------------------------------------------------------------------------
    def instance_created(self, asset_type: str) -> None:
        self.instances_created.labels(asset_type=asset_type).inc()

    @staticmethod
    def process_exiting() -> None:
        """At a worker's orderly end: its ``live*`` gauges leave the sums (a crashed worker's stay until the
        directory is emptied, which the service does before it starts; deploy/prometheus/README.md)."""
        if multiprocess_mode():
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def exposition(self) -> bytes:
        """The Prometheus text format of every figure: counted ones summed over all workers in multiprocess mode."""
        counted: Collector = self.registry
        if multiprocess_mode():
            counted = CollectorRegistry()
            MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        return generate_latest(_Joined((counted, self._read)))


class _Joined(Collector):
    def __init__(self, parts: Iterable[Collector]) -> None:
        self.parts = tuple(parts)

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by its route template (outermost, so it also sees the
    answers ``StoredReads`` gives before routing, which name their template in ``scope[ROUTE_KEY]``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.in_flight.dec()
            route = route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The template of the route that took the request (``/api/v1/asset-types/{type}/instances``), the path of a
    mount (``/socket.io``), or ``unmatched``.

    A route of an included router knows its path without the router's prefix (``/asset-types/{type}/instances``);
    the prefix is what the request's path has before that path with the request's parameters filled in.
    """
    named = scope.get(ROUTE_KEY)
    if named:
        return str(named)
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return UNMATCHED
    params = scope.get("path_params") or {}
    filled = _PARAM.sub(lambda m: str(params.get(m[1], m[0])), template)
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    path = path[len(root):] if root and path.startswith(root) else path
    return path[:len(path) - len(filled)] + template if path.endswith(filled) else str(template)


class Access(StrEnum):
    """What a ``/metrics`` request's credentials amount to."""

    GRANTED = "granted"
    NOT_CONFIGURED = "not-configured"  # no token file: /metrics is closed to everyone
    REFUSED = "refused"  # no bearer token, or another one


def bearer_access(authorization: str | None, token_file: Path) -> Access:
    """Check ``Authorization: Bearer <token>`` (RFC 6750 §2.1) against the first line of ``token_file``, read at
    every scrape so a new token takes effect without a restart; compared in constant time."""
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
