"""Prometheus figures of the line (``GET /metrics``, for the metrics bearer token only).

Counted by this process (summed over processes when ``PROMETHEUS_MULTIPROC_DIR`` is set, prometheus-client's
multiprocess mode)::

    omis_line_station_passes_total{station, result}   passes written to the RFID trace: ok | rework | failed
                                                      (bottles through a station = ok + failed; reworks = rework)

Read from the trace at scrape time, over the last ``metrics_oee_window_minutes`` (never summed)::

    omis_line_oee_ratio, omis_line_availability_ratio, omis_line_performance_ratio, omis_line_quality_ratio
    omis_line_window_bottles_started, omis_line_window_bottles_good, omis_line_window_bottles_failed
    omis_line_oee_window_seconds                      the window those figures cover
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

_WINDOW_FIGURES = {  # GET /api/oee key -> (metric, help)
    "oee": ("omis_line_oee_ratio", "OEE = availability x performance x quality over the window"),
    "availability": ("omis_line_availability_ratio", "Run time / planned time over the window"),
    "performance": ("omis_line_performance_ratio", "Ideal cycle time x bottles started / run time, at most 1"),
    "quality": ("omis_line_quality_ratio", "Good bottles / bottles finished over the window (1 when none finished)"),
    "bottlesStarted": ("omis_line_window_bottles_started", "Bottles that entered loading in the window"),
    "bottlesGood": ("omis_line_window_bottles_good", "Bottles packaged ok in the window"),
    "bottlesFailed": ("omis_line_window_bottles_failed", "Bottles that failed for good in the window"),
    "plannedSeconds": ("omis_line_oee_window_seconds", "The window the OEE figures cover"),
}


class LineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.passes = Counter("omis_line_station_passes", "Passes of bottles through stations as written to the "
                              "trace, by result: ok, rework, failed", ["station", "result"], registry=self.registry)

    def exposition(self, window: Mapping[str, object]) -> bytes:
        """Counted figures (every process's in multiprocess mode) and ``window``, the OEE figures as
        ``omis_line.oee.measure`` gives them."""
        counted: Collector = self.registry
        if getattr(values.ValueClass, "_multiprocess", False):  # PROMETHEUS_MULTIPROC_DIR: every process's files
            counted = CollectorRegistry()
            MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        return generate_latest(counted) + generate_latest(_Window(window))


class _Window(Collector):
    def __init__(self, figures: Mapping[str, object]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        for key, (name, documentation) in _WINDOW_FIGURES.items():
            value = self.figures[key]
            assert isinstance(value, int | float)
            yield GaugeMetricFamily(name, documentation, value=value)


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
