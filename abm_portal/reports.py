"""The portal's report for an organisation administrator, for a time frame, from the portal's own records, as HTML
or PDF.

Figures of [from, to), for one organisation (as provider or consumer):

- subscriptions requested in the frame, by the state they are in now, and by role;
- transfer jobs of the organisation's subscriptions made in the frame, by state;
- refusals reported: audit entries of the frame that record one (a rejection, a revocation, a failed transfer, a
  lockout), and the deliveries providers reported as expired unstored;
- grants issued in the frame (``grant.issued`` audit entries);
- the audit entries of the frame (the newest 1000), and their number by day.

Charts are SVG (matplotlib); the PDF is the same HTML rendered by WeasyPrint.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import Session, col, func, or_, select

from abm_portal.clock import as_utc, utcnow
from abm_portal.models import AuditEntry, Organisation, Subscription, SubscriptionProgress, TransferJob
from abm_portal.services import lifecycle
from abm_portal.web.timestamps import when

MAX_DAYS = 366
MAX_ENTRIES = 1000
REFUSAL_ACTIONS = ("subscription.rejected", "subscription.revoked", "transfer.failed", "auth.locked")
TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"
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


@dataclass
class OrganisationReport:
    org_name: str
    start: datetime
    end: datetime
    subscriptions: dict[str, int]  # state -> number
    roles: dict[str, int]  # provider|consumer -> number
    transfers: dict[str, int]
    refusals: dict[str, int]  # audit action -> number
    expired_deliveries: int
    grants_issued: int
    audit: list[AuditEntry]
    audit_by_day: dict[str, int]

    @property
    def empty(self) -> bool:
        return not self.audit and not self.roles and not self.transfers and not self.expired_deliveries


def build(db: Session, org: Organisation, start: datetime, end: datetime) -> OrganisationReport:
    """Every figure of ``org``'s report over [start, end)."""
    now = utcnow()
    mine = or_(col(Subscription.provider_org_id) == org.id, col(Subscription.consumer_org_id) == org.id)
    subs = db.exec(select(Subscription).where(mine, col(Subscription.created_at) >= start,
                                              col(Subscription.created_at) < end)).all()
    states = Counter(lifecycle.effective_state(s.mode, s.state, s.valid_to, now) for s in subs)
    roles = Counter("provider" if s.provider_org_id == org.id else "consumer" for s in subs)
    transfers = Counter(db.exec(select(TransferJob.state).join(Subscription,
                                                               col(Subscription.id) == TransferJob.subscription_id)
                                .where(mine, col(TransferJob.created_at) >= start,
                                       col(TransferJob.created_at) < end)).all())
    concerns = or_(col(AuditEntry.org_id) == org.id, col(AuditEntry.partner_org_id) == org.id)
    in_frame = (col(AuditEntry.at) >= start, col(AuditEntry.at) < end)
    counted = dict(db.exec(select(AuditEntry.action, func.count()).where(concerns, *in_frame)
                           .group_by(col(AuditEntry.action))).all())
    expired = db.exec(select(func.coalesce(func.sum(SubscriptionProgress.expired), 0))
                      .join(Subscription, col(Subscription.id) == SubscriptionProgress.subscription_id)
                      .where(col(Subscription.provider_org_id) == org.id, SubscriptionProgress.side == "provider",
                             col(SubscriptionProgress.reported_at) >= start,
                             col(SubscriptionProgress.reported_at) < end)).one()
    entries = list(db.exec(select(AuditEntry).where(concerns, *in_frame)
                           .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(MAX_ENTRIES)).all())
    by_day = Counter(as_utc(e.at).date().isoformat() for e in entries)
    days, day = {}, start.date()
    while datetime.combine(day, time(), UTC) < end:
        days[day.isoformat()] = by_day.get(day.isoformat(), 0)
        day += timedelta(days=1)
    return OrganisationReport(
        org.name, start, end, {s.value: states.get(s.value, 0) for s in lifecycle.SubscriptionState if states.get(s)},
        dict(roles), dict(transfers), {a: counted[a] for a in REFUSAL_ACTIONS if counted.get(a)}, int(expired),
        int(counted.get("grant.issued", 0)), entries, days)


def charts(report: OrganisationReport) -> dict[str, Markup]:
    if report.empty:
        return {}
    found: dict[str, Markup] = {"audit": bar_chart(list(report.audit_by_day), list(report.audit_by_day.values()),
                                                   "Audit events by day", "events")}
    if report.subscriptions:
        found["subscriptions"] = bar_chart(list(report.subscriptions), list(report.subscriptions.values()),
                                           "Subscriptions by state", "subscriptions")
    return found


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters.update(when=when)


def html(report: OrganisationReport, *, pdf_link: str | None = None) -> str:
    return _env.get_template("report.html").render(r=report, charts=charts(report), generated=utcnow(),
                                                   pdf_link=pdf_link)


def pdf(report: OrganisationReport) -> bytes:
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


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, unit: str) -> Markup:
    figure, axes = _figure(title, unit)
    axes.bar(range(len(labels)), values, color="#2a5d9f")
    axes.set_xticks(range(len(labels)), labels)
    if len(labels) > 8:
        axes.tick_params(axis="x", labelrotation=45)
    return _svg(figure)
