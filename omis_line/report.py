"""The OMIS production report for a time frame, from the line's own data (trace, orders), as HTML or PDF.

Figures of [from, to):

- OEE with availability, performance and quality (``omis_line.oee``), over the whole frame and per UTC day;
- per station: bottles through it (distinct tags), ok passes, reworks, failures, mean seconds of a pass; the
  slowest station is the one with the longest mean pass (passes that *entered* in the frame);
- rework rate = bottles reworked at least once / bottles in the trace of the frame;
- lead time from received to completed of the Sales Orders completed in the frame: p50 and p95 (nearest rank).

Charts are SVG (matplotlib); the PDF is the same HTML rendered by WeasyPrint.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import Session, col, select

from omis_line import oee
from omis_line.clock import parse_iso, utcnow, when
from omis_line.config import STATIONS
from omis_line.models import OrderState, SalesOrder, TraceEvent

MAX_DAYS = 366
_ID_REFERENCE = re.compile(r'(\bid="|url\(#|href="#)')
_charts = itertools.count(1)
TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"


class RangeInvalid(ValueError):
    """A bad time frame; ``field`` is the parameter to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def parse_range(start_text: str | None, end_text: str | None, now: datetime | None = None
                ) -> tuple[datetime, datetime]:
    """[from, to) from ISO dates or datetimes (UTC when no zone). A date ``to`` includes that whole day. Defaults:
    ``to`` now, ``from`` 7 days before ``to``."""
    end = _moment("to", end_text, inclusive_day=True) or now or utcnow()
    start = _moment("from", start_text, inclusive_day=False) or end - timedelta(days=7)
    if start >= end:
        raise RangeInvalid("from", "'from' must be before 'to'; swap them or widen the frame")
    if end - start > timedelta(days=MAX_DAYS):
        raise RangeInvalid("to", f"the frame is longer than {MAX_DAYS} days; report on a shorter one")
    return start, end


def _moment(field_name: str, text: str | None, *, inclusive_day: bool) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        if len(text.strip()) == 10:  # a date: its start, or (an inclusive 'to') the start of the next day
            day = date.fromisoformat(text.strip())
            return datetime.combine(day + timedelta(days=1 if inclusive_day else 0), time(), UTC)
        return parse_iso(text)
    except ValueError:
        raise RangeInvalid(field_name, f"'{text}' is not a date or datetime; write e.g. 2026-11-22 or "
                                       "2026-11-22T10:15:00Z") from None


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile: the value at rank ceil(p/100 · n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class StationFigures:
    station: str
    bottles: int
    ok: int
    reworks: int
    failures: int
    mean_seconds: float | None


@dataclass
class ProductionReport:
    start: datetime
    end: datetime
    oee: dict[str, Any]
    days: list[dict[str, Any]]
    stations: list[StationFigures]
    bottles: int
    reworked_bottles: int
    lead_times: list[float]
    orders_completed: int
    orders_failed: int

    @property
    def empty(self) -> bool:
        return self.bottles == 0 and not self.lead_times and self.orders_failed == 0

    @property
    def rework_rate(self) -> float:
        return self.reworked_bottles / self.bottles if self.bottles else 0.0

    @property
    def lead_p50(self) -> float | None:
        return percentile(self.lead_times, 50)

    @property
    def lead_p95(self) -> float | None:
        return percentile(self.lead_times, 95)

    @property
    def slowest(self) -> StationFigures | None:
        timed = [s for s in self.stations if s.mean_seconds is not None]
        return max(timed, key=lambda s: s.mean_seconds or 0.0) if timed else None


def build(session: Session, start: datetime, end: datetime, ideal_cycle_seconds: float) -> ProductionReport:
    """Every figure of the report over [start, end)."""
    overall = oee.measure(session, start, end, ideal_cycle_seconds)
    days = []
    day = datetime.combine(start.date(), time(), UTC)
    while day < end:
        low, high = max(day, start), min(day + timedelta(days=1), end)
        days.append({"day": day.date().isoformat(), **oee.measure(session, low, high, ideal_cycle_seconds)})
        day += timedelta(days=1)
    passes = session.exec(select(TraceEvent).where(col(TraceEvent.entered) >= start, col(TraceEvent.entered) < end)
                          ).all()
    stations = []
    for name in STATIONS:
        mine = [p for p in passes if p.station == name]
        durations = [(p.left - p.entered).total_seconds() for p in mine]
        stations.append(StationFigures(name, len({p.rfid_tag for p in mine}), sum(p.result == "ok" for p in mine),
                                       sum(p.result == "rework" for p in mine),
                                       sum(p.result == "failed" for p in mine),
                                       sum(durations) / len(durations) if durations else None))
    finished = session.exec(select(SalesOrder).where(col(SalesOrder.completed_at) >= start,
                                                     col(SalesOrder.completed_at) < end)).all()
    failed = session.exec(select(SalesOrder).where(SalesOrder.state == OrderState.FAILED,
                                                   col(SalesOrder.received_at) >= start,
                                                   col(SalesOrder.received_at) < end)).all()
    lead = [(o.completed_at - o.received_at).total_seconds() for o in finished if o.completed_at is not None]
    return ProductionReport(start, end, overall, days, stations, len({p.rfid_tag for p in passes}),
                            len({p.rfid_tag for p in passes if p.result == "rework"}), lead, len(lead), len(failed))


def charts(report: ProductionReport) -> dict[str, Markup]:
    if report.empty:
        return {}
    days, stations = report.days, report.stations
    names = [s.station for s in stations]
    return {
        "oee": line_chart([d["day"] for d in days], {name: [d[key] * 100 for d in days] for key, name in (
            ("oee", "OEE"), ("availability", "Availability"), ("performance", "Performance"),
            ("quality", "Quality"))}, "OEE and its factors by day", "%"),
        "stations": bar_chart(names, {"bottles": [s.bottles for s in stations],
                                      "failures": [s.failures for s in stations],
                                      "reworks": [s.reworks for s in stations]},
                              "Bottles, failures and reworks per station", "count"),
        "seconds": bar_chart(names, {"mean seconds a pass": [s.mean_seconds or 0.0 for s in stations]},
                             "Mean time a bottle spends at each station", "s"),
    }


# -- rendering ---------------------------------------------------------------------------------------------------

def duration(seconds: float | None) -> str:
    """A lead time as people read it: ``45 s``, ``6.0 min``, ``2.5 h``, ``3.1 d``; ``—`` for none."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def percent(value: float) -> str:
    return f"{value * 100:.1f} %"


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters.update(duration=duration, percent=percent, when=when)


def html(report: ProductionReport, *, pdf_link: str | None = None) -> str:
    return _env.get_template("report.html").render(r=report, charts=charts(report), generated=utcnow(),
                                                   pdf_link=pdf_link)


def pdf(report: ProductionReport) -> bytes:
    from weasyprint import HTML  # a heavy import; only the PDF needs it

    rendered: bytes = HTML(string=html(report)).write_pdf()
    return rendered


# -- charts (SVG, matplotlib) ------------------------------------------------------------------------------------

def _svg(figure: Any) -> Markup:
    """The figure as an inline ``<svg>``, its element ids made unique in the page (matplotlib numbers them per
    figure, and one page holds several)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    prefix = f"c{next(_charts)}-"
    text = _ID_REFERENCE.sub(lambda m: m[1] + prefix, text[text.index("<svg"):])
    return Markup(text)  # made here by matplotlib from numbers, not from input


def _figure(title: str, unit: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "report", "font.family": "DejaVu Sans",
                                "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 2.6))
    axes = figure.subplots()
    axes.set_title(title, loc="left", fontsize=10)
    axes.set_ylabel(unit)
    axes.grid(axis="y", alpha=0.3)
    return figure, axes


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, unit: str) -> Markup:
    figure, axes = _figure(title, unit)
    width = 0.8 / len(series)
    for n, (name, values) in enumerate(series.items()):
        axes.bar([i + (n - (len(series) - 1) / 2) * width for i in range(len(labels))], values, width, label=name)
    axes.set_xticks(range(len(labels)), labels)
    if len(series) > 1:
        axes.legend(frameon=False, ncols=len(series))
    return _svg(figure)


def line_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, unit: str) -> Markup:
    figure, axes = _figure(title, unit)
    for name, values in series.items():
        axes.plot(labels, values, marker="o", label=name)
    axes.set_ylim(0, 105)
    axes.legend(frameon=False, ncols=len(series))
    if len(labels) > 10:
        axes.tick_params(axis="x", labelrotation=45)
    return _svg(figure)
