"""OEE (overall equipment effectiveness) of the line over a time window [from, to], from the RFID trace.

- planned time  = the window (to − from)
- run time      = time the line had at least one bottle in a station: the union of all trace passes
                  [entered, left], clipped to the window
- availability  = run time / planned time
- performance   = ideal cycle time × bottles started / run time, capped at 1 (0 when nothing ran)
- quality       = good bottles / bottles finished (good + failed); 1 when no bottle finished (no defect seen)
- OEE           = availability × performance × quality
- throughput    = good bottles per minute of planned time

A bottle is *started* in the window when it entered loading in it, *good* when it left packaging ok in it,
*failed* when its final failed pass ended in it. Passes still under way are not in the trace yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from omis_line.clock import iso
from omis_line.models import TraceEvent


@dataclass(frozen=True)
class Pass:
    rfid_tag: str
    station: str
    entered: datetime
    left: datetime
    result: str


def run_seconds(passes: Iterable[Pass], start: datetime, end: datetime) -> float:
    """Length of the union of the passes' intervals within [start, end]."""
    intervals = sorted((max(p.entered, start), min(p.left, end)) for p in passes)
    total = 0.0
    current_start: datetime | None = None
    current_end: datetime | None = None
    for low, high in intervals:
        if high <= low:
            continue
        if current_end is None or low > current_end:
            if current_start is not None and current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = low, high
        else:
            current_end = max(current_end, high)
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def compute(passes: list[Pass], start: datetime, end: datetime, ideal_cycle_seconds: float) -> dict[str, object]:
    """The OEE figures of ``passes`` (all that overlap the window) as ``GET /api/oee`` answers them."""
    planned = (end - start).total_seconds()
    run = run_seconds(passes, start, end)
    started = {p.rfid_tag for p in passes if p.station == "loading" and start <= p.entered <= end}
    good = {p.rfid_tag for p in passes if p.station == "packaging" and p.result == "ok" and start <= p.left <= end}
    failed = {p.rfid_tag for p in passes if p.result == "failed" and start <= p.left <= end}
    availability = run / planned if planned > 0 else 0.0
    performance = min(1.0, ideal_cycle_seconds * len(started) / run) if run > 0 else 0.0
    finished = len(good) + len(failed)
    quality = len(good) / finished if finished else 1.0
    return {
        "from": iso(start),
        "to": iso(end),
        "plannedSeconds": round(planned, 3),
        "runSeconds": round(run, 3),
        "availability": round(availability, 4),
        "performance": round(performance, 4),
        "quality": round(quality, 4),
        "oee": round(availability * performance * quality, 4),
        "bottlesStarted": len(started),
        "bottlesGood": len(good),
        "bottlesFailed": len(failed),
        "throughputPerMinute": round(len(good) / (planned / 60), 3) if planned > 0 else 0.0,
    }


def passes_overlapping(session: Session, start: datetime, end: datetime) -> list[Pass]:
    rows = session.exec(select(TraceEvent).where(col(TraceEvent.left) >= start, col(TraceEvent.entered) <= end)
                        .order_by(col(TraceEvent.entered))).all()
    return [Pass(r.rfid_tag, r.station, r.entered, r.left, r.result) for r in rows]


def measure(session: Session, start: datetime, end: datetime, ideal_cycle_seconds: float) -> dict[str, object]:
    return compute(passes_overlapping(session, start, end), start, end, ideal_cycle_seconds)
