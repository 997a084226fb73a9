"""The PEC sales report for a time frame, from the shop's own orders and the statuses it received, as HTML or PDF.

Figures of the orders placed in [from, to):

- orders by day and by juice (the mix: its ingredients, largest share first);
- lead time from order to completed (placed → the first ``completed`` status the shop received): p50 and p95 by
  nearest rank;
- orders stuck and where: not finished (completed, shipped, failed, cancelled or refused) and unchanged for
  ``STUCK_AFTER`` before the end of the frame (or now, if earlier): queued at the shop, waiting for OMIS, or the
  status and station OMIS last reported.

Charts are SVG (matplotlib); the PDF is the same HTML rendered by WeasyPrint.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import Session, col, select

from pec_shop.models import Delivery, Order, StatusRevision, utcnow
from pec_shop.timestamps import when

MAX_DAYS = 366
STUCK_AFTER = timedelta(hours=24)
FINISHED = {"completed", "shipped", "failed", "cancelled"}
TOP_JUICES = 8
TEMPLATES = Path(__file__).resolve().parent / "templates"
_ID_REFERENCE = re.compile(r'(\bid="|url\(#|href="#)')
_charts = itertools.count(1)


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
class Stuck:
    order_id: str
    placed_at: datetime
    where: str
    since: datetime


@dataclass
class SalesReport:
    start: datetime
    end: datetime
    by_day: dict[str, int]
    by_juice: list[tuple[str, int]]
    lead_times: list[float]
    stuck: list[Stuck]
    orders: int
    bottles: int

    @property
    def empty(self) -> bool:
        return self.orders == 0

    @property
    def lead_p50(self) -> float | None:
        return percentile(self.lead_times, 50)

    @property
    def lead_p95(self) -> float | None:
        return percentile(self.lead_times, 95)

    @property
    def stuck_where(self) -> list[tuple[str, int]]:
        return Counter(s.where for s in self.stuck).most_common()


def juice(order: Order) -> str:
    """The mix as people name it: ``orange 60 % + carrot 40 %``, largest share first."""
    parts = sorted(order.ingredients, key=lambda p: (-p["percent"], p["ingredient"]))
    return " + ".join(f"{p['ingredient']} {p['percent']} %" for p in parts)


def build(session: Session, start: datetime, end: datetime, now: datetime | None = None) -> SalesReport:
    orders = session.exec(select(Order).where(col(Order.placed_at) >= start, col(Order.placed_at) < end)
                          .order_by(col(Order.placed_at))).all()
    ids = [o.order_id for o in orders]
    revisions: dict[str, list[StatusRevision]] = {}
    if ids:
        for revision in session.exec(select(StatusRevision).where(col(StatusRevision.order_id).in_(ids))
                                     .order_by(col(StatusRevision.received_at))).all():
            revisions.setdefault(revision.order_id, []).append(revision)
    by_day = Counter(o.placed_at.astimezone(UTC).date().isoformat() for o in orders)
    day, days = start.date(), {}
    while datetime.combine(day, time(), UTC) < end:
        days[day.isoformat()] = by_day.get(day.isoformat(), 0)
        day += timedelta(days=1)
    juices = Counter(juice(o) for o in orders).most_common()
    if len(juices) > TOP_JUICES:
        juices = juices[:TOP_JUICES - 1] + [("other mixes", sum(n for _, n in juices[TOP_JUICES - 1:]))]
    lead, stuck = [], []
    cutoff = min(end, now or utcnow()) - STUCK_AFTER
    for order in orders:
        mine = revisions.get(order.order_id, [])
        completed = next((r.received_at for r in mine if r.status == "completed"), None)
        if completed is not None:
            lead.append((completed - order.placed_at).total_seconds())
        if order.delivery == Delivery.REFUSED or order.status in FINISHED:
            continue
        since = mine[-1].received_at if mine else order.sent_at or order.placed_at
        if since <= cutoff:
            stuck.append(Stuck(order.order_id, order.placed_at, where(order), since))
    return SalesReport(start, end, days, juices, lead, stuck, len(orders), sum(o.quantity for o in orders))


def where(order: Order) -> str:
    if order.delivery == Delivery.QUEUED:
        return "queued at the shop (not yet at PEC's AAdSys)"
    if order.status is None:
        return "sent, no status from OMIS yet"
    return f"{order.status} at {order.current_station}" if order.current_station else order.status


def charts(report: SalesReport) -> dict[str, Markup]:
    if report.empty:
        return {}
    return {"days": bar_chart(list(report.by_day), {"orders": list(report.by_day.values())}, "Orders by day",
                              "orders"),
            "juices": bar_chart([name for name, _ in report.by_juice], {"orders": [n for _, n in report.by_juice]},
                                "Orders by juice", "orders", horizontal=True)}


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


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters.update(duration=duration, when=when)


def html(report: SalesReport, *, pdf_link: str | None = None) -> str:
    return _env.get_template("report.html").render(r=report, charts=charts(report), generated=utcnow(),
                                                   pdf_link=pdf_link)


def pdf(report: SalesReport) -> bytes:
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


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, unit: str, *,
              horizontal: bool = False) -> Markup:
    figure, axes = _figure(title, "" if horizontal else unit)
    values = next(iter(series.values()))
    if horizontal:  # long labels (mixes) read best down the side, the largest on top
        axes.barh(range(len(labels)), values, color="#2f7d4f")
        axes.set_yticks(range(len(labels)), labels)
        axes.invert_yaxis()
        axes.set_xlabel(unit)
        axes.grid(axis="x", alpha=0.3)
    else:
        axes.bar(range(len(labels)), values, color="#2f7d4f")
        axes.set_xticks(range(len(labels)), labels)
        if len(labels) > 10:
            axes.tick_params(axis="x", labelrotation=45)
    return _svg(figure)
