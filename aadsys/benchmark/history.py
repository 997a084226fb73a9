"""``aadsys bench history``: a historical replay of Sales Orders stored at PEC, to OMIS, at several sizes.

For each size N, in a run of its own: a portal, PEC and OMIS as real processes on loopback. Before PEC serves,
N fresh 2 KB Sales Orders are stored in its database with createdAt spread over an hour in the past
(``preload``), and a few more just outside that hour. OMIS then asks for a historical subscription of exactly
that hour (at the portal, as ``aadsys connector request --mode historical --from … --to …`` does); PEC's
administrator approves it, and the clock starts. The replay ends when OMIS's history job is reported complete.
Its figures:
- seconds from approval until OMIS stored the last of the N (OMIS's own receipt time, ``inbox.received_at``);
- instances per second over that time;
- the peak resident memory of PEC's and OMIS's processes while it ran.

Exactness is checked in full, not by sample. OMIS's inbox for the subscription must hold seq 1 … N with exactly
the keys and sha256 stored at PEC, in createdAt order; the check recomputes the transfer digest on its own and
compares it with both connectors'. OMIS must hold exactly those N instances of PEC's, and none of the records
outside the range. The portal must have completed the transfer. A few records are also read back through
OMIS's business API.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from aadsys.benchmark._figures import machine, write_json
from aadsys.benchmark._observing import ResourceSampler
from aadsys.benchmark._processes import Partners, Side, partners
from aadsys.benchmark.preload import Preloaded, preload, transfer_digest
from aadsys.config import load_settings
from aadsys.core.db import Database
from aadsys.core.instances import aware
from aadsys.core.tables import InboxRow, InstanceRow, table_of
from aadsys.processes import ProcessError, wait_for

TARGET_PER_S = 5000  # issue 7: at least 5,000 instances per second
TARGET_RSS_MB = 200  # issue 7: at most 200 MB resident at 100,000 instances
TARGET_RSS_AT = 100_000
RANGE = timedelta(hours=1)
RANGE_ENDS_AGO = timedelta(minutes=10)  # a historical range lies in the past
OUTSIDE = 3  # records stored just before and just after the range: none may travel
API_SAMPLE = 50  # received records read back through OMIS's business API
POLL_SECONDS = 0.5  # OMIS answers each look: keep them few
STALL_SECONDS = 120.0  # a replay that stores nothing more for this long has stopped
FINAL_JOB = ("reported", "failed")
_INBOX = table_of(InboxRow)
_INSTANCES = table_of(InstanceRow)


def parse_sizes(text: str) -> list[int]:
    """``10000,100000`` or ``10k,100k`` → [10000, 100000]."""
    sizes = []
    for part in (p.strip().lower() for p in text.split(",")):
        try:
            size = int(float(part[:-1]) * 1000) if part.endswith("k") else int(part)
        except ValueError:
            raise ValueError(f"'{part}' is not a count; give counts such as 10000,100000 or 10k,100k") from None
        if not 1 <= size <= 1_000_000:
            raise ValueError(f"{size} is outside 1 … 1,000,000")
        sizes.append(size)
    if not sizes:
        raise ValueError("give at least one count, e.g. 10000")
    return sizes


@dataclass
class Replay:
    """One size's run: what was loaded, what the processes did, and what OMIS holds afterwards."""

    size: int
    loaded: Preloaded
    approved_at: datetime
    complete_s: float | None  # approval → OMIS's history job reported (seen by polling)
    job: dict[str, Any]  # OMIS's history job at the end
    provider_job: dict[str, Any]  # PEC's
    transfer: dict[str, Any]  # the portal's transfer job
    resources: dict[str, dict[str, float]]
    held: Holdings
    api_mismatches: int


@dataclass
class Holdings:
    """What OMIS's database holds of the subscription, read after the replay."""

    stored: int  # inbox rows of the subscription
    digest: str  # recomputed here over its inbox, seq order
    seqs_in_order: bool  # seq 1 … stored, each once
    first_received: datetime | None
    last_received: datetime | None
    instances: dict[str, str]  # key → sha256 of every instance OMIS holds from PEC


def run(*, sizes: Sequence[int], seconds: float, database_urls: tuple[str | None, str | None],
        json_path: Path | None, keep: Path | None, console: Console) -> int:
    """Runs one replay per size, prints the table, writes the JSON; returns the exit code (1 unless every replay
    was exact and completed)."""
    rng = random.Random()
    root = keep or Path(tempfile.mkdtemp(prefix="aadsys-bench-"))
    results = []
    try:
        for size in sizes:
            console.rule(f"historical replay of {size:,} Sales Orders")
            replay = measure(size, root / f"history-{size}", database_urls, console, rng, seconds)
            results.append(report_of(replay))
            if keep is None:
                shutil.rmtree(root / f"history-{size}", ignore_errors=True)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report = build_report(results, database_urls)
    console.print(table(report))
    console.print(side_by_side(report))
    write_json(report, json_path, console)
    failed = [r for r in report["sizes"] if not r["exact"]]
    for r in failed:
        console.print(f"[red]{r['count']:,}: not exact: {', '.join(r['problems'])}[/red]")
    return 1 if failed else 0


def measure(size: int, root: Path, database_urls: tuple[str | None, str | None], console: Console,
            rng: random.Random, seconds: float) -> Replay:
    range_to = (datetime.now(UTC) - RANGE_ENDS_AGO).replace(microsecond=0)
    range_from = range_to - RANGE
    tag = os.urandom(3).hex()
    loaded: list[Preloaded] = []

    def fill(team: Partners) -> None:
        with _progress(console) as progress:
            task = progress.add_task("stored at PEC (before it serves)", total=size + 2 * OUTSIDE)
            loaded.append(preload(load_settings(data_dir=team.pec.member.data_dir), size, range_from, range_to,
                                  tag=tag, rng=rng, outside=OUTSIDE, advance=lambda n: progress.advance(task, n)))

    with partners(root, database_urls, console, realtime=(), before_start=fill) as team:
        pec, omis = team.pec, team.omis
        subscription = team.request(pec, omis, "historical", range_from, range_to)
        sampler = ResourceSampler({"pec": pec.member.running_pid, "omis": omis.member.running_pid})
        sampler.start()
        try:
            approved_at = datetime.now(UTC)
            began = time.perf_counter()
            team.approve(pec, subscription)
            job, complete_s = follow(omis, subscription, size, began + seconds, console)
            if complete_s is not None:
                complete_s -= began
        finally:
            resources = sampler.stop()
        transfer = _final_transfer(team, subscription)
        provider_job = _history_job(pec, subscription)
        held = holdings(omis, subscription, pec.owner.org)
        mismatches = api_sample(omis, pec.owner.org, loaded[0], rng)
    return Replay(size, loaded[0], approved_at, complete_s, job, provider_job, transfer, resources, held, mismatches)


def follow(omis: Side, subscription: str, size: int, deadline: float, console: Console
           ) -> tuple[dict[str, Any], float | None]:
    """Show OMIS's progress (its ``/connector/v1/status``) until its history job ends, ``deadline`` passes or
    nothing more is stored for ``STALL_SECONDS``; returns the job and when it was seen reported (perf_counter), or
    None if it was not."""
    job: dict[str, Any] = {}
    stored, moved = -1, time.perf_counter()
    with _progress(console) as progress, omis.member.api() as api:
        task = progress.add_task("stored at OMIS (replay)", total=size)
        while time.perf_counter() < deadline and time.perf_counter() - moved < STALL_SECONDS:
            entry = _subscription(api, subscription)
            job = entry.get("history") or {}
            if entry.get("stored", 0) != stored:
                stored, moved = entry.get("stored", 0), time.perf_counter()
                progress.update(task, completed=stored)
            if job.get("state") in FINAL_JOB:
                return job, time.perf_counter() if job["state"] == "reported" else None
            time.sleep(POLL_SECONDS)
    return job, None


def _subscription(api: httpx.Client, subscription: str) -> dict[str, Any]:
    status = api.get("/connector/v1/status").raise_for_status().json()
    return next((s for s in status["subscriptions"] if s["id"] == subscription), {})


def _history_job(side: Side, subscription: str) -> dict[str, Any]:
    """``side``'s history job once it is final (or as it is after 10 s): a connector marks its job reported after
    the portal answered its report, so the portal's transfer can be seen completed a moment before."""
    job: dict[str, Any] = {}

    def final() -> bool:
        nonlocal job
        with side.member.api() as api:
            job = dict(_subscription(api, subscription).get("history") or {})
        return job.get("state") in FINAL_JOB

    with contextlib.suppress(ProcessError):  # the job as it is then, named in the problems
        wait_for(final, "the history job to be reported", timeout=10, interval=0.2)
    return job


def _final_transfer(team: Partners, subscription: str) -> dict[str, Any]:
    """The portal's transfer job once it completed or failed (both connectors report within a poll round)."""
    def ended() -> dict[str, Any] | None:
        with team.portal.api(team.orgs["OMIS"].admin_token) as api:
            transfer = api.get(f"/api/v1/subscriptions/{subscription}").raise_for_status().json().get("transfer")
        return transfer if transfer and transfer["state"] in ("completed", "failed") else None

    try:
        return wait_for(ended, "the portal to end the transfer", timeout=30)
    except ProcessError as exc:
        return {"state": "not ended", "reason": str(exc)}


def holdings(omis: Side, subscription: str, provider: str) -> Holdings:
    """Read OMIS's database (``inbox`` and ``instances``): what the subscription stored, and when."""
    settings = load_settings(data_dir=omis.member.data_dir)
    db = Database(settings.resolved_database_url)
    try:
        with db.session() as session:
            first, last = session.execute(select(func.min(_INBOX.c.received_at), func.max(_INBOX.c.received_at))
                                          .where(_INBOX.c.subscription_id == subscription)).one()
            rows = session.execute(select(_INBOX.c.seq, _INBOX.c.instance_key, _INBOX.c.sha256)
                                   .where(_INBOX.c.subscription_id == subscription).order_by(_INBOX.c.seq)).all()
            instances = dict(session.execute(select(_INSTANCES.c.instance_key, _INSTANCES.c.sha256)
                                             .where(_INSTANCES.c.origin == provider)).tuples().all())
    finally:
        db.dispose()
    return Holdings(len(rows), transfer_digest((r.seq, (r.instance_key, r.sha256)) for r in rows),
                    [r.seq for r in rows] == list(range(1, len(rows) + 1)),
                    aware(first) if first else None, aware(last) if last else None, instances)


def api_sample(omis: Side, provider: str, loaded: Preloaded, rng: random.Random) -> int:
    """Read a few received records through OMIS's business API; how many are missing or differ from PEC's."""
    expected = dict(zip(loaded.keys, loaded.sha256, strict=True))
    mismatches = 0
    with omis.member.api() as api:
        for key in rng.sample(loaded.keys, min(API_SAMPLE, len(loaded.keys))):
            answer = api.get(f"/api/v1/asset-types/sales-order/instances/{key}", params={"provider": provider})
            if answer.status_code != 200 or answer.headers.get("ETag") != f'"{expected[key]}"':
                mismatches += 1
    return mismatches


def problems(replay: Replay) -> list[str]:
    """Every way the replay fell short of exact and complete; none for a good one."""
    loaded, held, found = replay.loaded, replay.held, []
    expected = dict(zip(loaded.keys, loaded.sha256, strict=True))
    if held.stored != replay.size:
        found.append(f"OMIS's inbox holds {held.stored} of {replay.size}")
    if not held.seqs_in_order:
        found.append("the inbox's seqs are not 1 … N")
    if held.digest != loaded.digest():
        found.append("the inbox's digest is not that of the loaded range")
    missing = sum(held.instances.get(key) != sha for key, sha in expected.items())
    if missing:
        found.append(f"{missing} of PEC's records missing or different at OMIS")
    outside = [key for key in loaded.outside_keys if key in held.instances]
    if outside:
        found.append(f"{len(outside)} of the records outside the range arrived")
    if len(held.instances) != len(expected):
        found.append(f"OMIS holds {len(held.instances)} records of PEC's, not {len(expected)}")
    for side, job in (("OMIS", replay.job), ("PEC", replay.provider_job)):
        if job.get("state") != "reported" or job.get("count") != replay.size:
            found.append(f"{side}'s history job: {job.get('state')}, count {job.get('count')}")
        elif job.get("digest") != loaded.digest():
            found.append(f"{side}'s digest differs from the loaded range's")
    if replay.transfer.get("state") != "completed":
        found.append(f"portal transfer {replay.transfer.get('state')}: {replay.transfer.get('reason')}")
    if replay.api_mismatches:
        found.append(f"{replay.api_mismatches} sampled records wrong through OMIS's business API")
    return found


def report_of(replay: Replay) -> dict[str, Any]:
    held, loaded = replay.held, replay.loaded
    seconds = (held.last_received - replay.approved_at).total_seconds() if held.last_received else None
    span = (held.last_received - held.first_received).total_seconds() if held.first_received and held.last_received \
        else None
    business, aas = loaded.sizes()
    found = problems(replay)
    return {
        "count": replay.size, "exact": not found, "problems": found,
        "seconds": _round(seconds, 3), "rate_per_s": _rate(held.stored, seconds),
        "first_arrival_s": _round((held.first_received - replay.approved_at).total_seconds()
                                  if held.first_received else None, 3),
        "stored_span_s": _round(span, 3), "rate_while_storing_per_s": _rate(held.stored, span),
        "complete_s": _round(replay.complete_s, 2),
        "stored": held.stored, "outside_range": len(loaded.outside_keys),
        "digest": loaded.digest(), "consumer_job": replay.job, "provider_job": replay.provider_job,
        "portal_transfer": {k: replay.transfer.get(k) for k in ("state", "providerCount", "consumerCount",
                                                               "reason")},
        "api_sample": min(API_SAMPLE, replay.size), "api_mismatches": replay.api_mismatches,
        "load_seconds": round(loaded.seconds, 2), "load_rate_per_s": _rate(replay.size, loaded.seconds),
        "business_bytes_mean": round(business), "aas_bytes_mean": round(aas),
        "rss": replay.resources,
    }


def build_report(results: Sequence[dict[str, Any]], database_urls: Sequence[str | None]) -> dict[str, Any]:
    return {"sizes": list(results),
            "targets": {"rate_per_s": TARGET_PER_S, "rss_mb": TARGET_RSS_MB, "rss_at_count": TARGET_RSS_AT},
            "machine": machine(database_urls)}


def table(report: dict[str, Any]) -> Table:
    out = Table("instances", "load at PEC", "replay s", "instances/s", "first arrival", "job reported",
                "PEC RSS MB", "OMIS RSS MB", "exact",
                title="historical replay PEC → OMIS (seconds from the portal's approval)")
    for r in report["sizes"]:
        out.add_row(f"{r['count']:,}", f"{r['load_seconds']:.1f} s", _num(r["seconds"], "{:.2f}"),
                    _num(r["rate_per_s"], "{:,.0f}"), _num(r["first_arrival_s"], "{:.2f} s"),
                    _num(r["complete_s"], "{:.2f} s"), _rss(r["rss"].get("pec", {})), _rss(r["rss"].get("omis", {})),
                    "yes" if r["exact"] else "[red]no[/red]")
    out.add_row("issue 7 target", "", "", f"≥ {TARGET_PER_S:,}", "", "", f"≤ {TARGET_RSS_MB} at 100k",
                f"≤ {TARGET_RSS_MB} at 100k", "")
    m = report["machine"]
    out.caption = (f"RSS: before the approval → peak while replaying (VmRSS every 0.2 s) · 2 KB Sales Orders · "
                   f"{m['cores']} cores, Python {m['python']}, {m['database']}")
    return out


def side_by_side(report: dict[str, Any]) -> str:
    """Peak RSS of each process at each size on one line, to see whether memory grows with the range."""
    parts = []
    for name in ("pec", "omis"):
        peaks = " → ".join(f"{r['rss'].get(name, {}).get('peak_mb', '–')} MB at {r['count']:,}"
                           for r in report["sizes"])
        parts.append(f"{name.upper()} peak RSS {peaks}")
    return "; ".join(parts)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:>33}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def _rss(figures: dict[str, float]) -> str:
    return f"{figures.get('baseline_mb', '–')} → {figures.get('peak_mb', '–')}"


def _num(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)


def _rate(n: int, seconds: float | None) -> float | None:
    return round(n / seconds, 1) if seconds and n > 0 else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

