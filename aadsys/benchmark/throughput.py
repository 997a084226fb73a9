"""``aadsys bench throughput``: how many Sales Orders per second a real-time channel stores at the consumer.

A portal, PEC and OMIS run as real processes on loopback, with an approved real-time subscription to PEC's
Sales Orders for OMIS. Concurrent producers post fresh 2 KB orders to PEC's business API, as an e-shop under
load would; the figure is what OMIS's own event stream (``/api/v1/events``) reports stored, per second. Each
record's latency runs from the start of its POST at PEC to its event at OMIS. Every record posted must arrive
once, with the sha256 PEC answered.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aadsys.benchmark._figures import machine, ms, summary, write_json
from aadsys.benchmark._observing import Arrivals, ResourceSampler
from aadsys.benchmark._processes import BenchError, partners
from aadsys.benchmark.records import ORDER_BYTES, aas_size, order
from aadsys.postgres import start_postgres
from aadsys.processes import AadsysProcess
from aas_models import Owner

TARGET_PER_S = 2000  # issue 7: at least 2,000 instances stored per second at the consumer
PATH = "/api/v1/asset-types/sales-order/instances"
STALL_SECONDS = 30.0  # after posting: no arrival for this long, and the rest counts as lost
SIZE_SAMPLE = 50  # orders rendered to report the mean AAS JSON size


@dataclass
class Posting:
    """One POST to the provider: when it started and ended, and what PEC answered."""

    key: str
    started: float
    answered: float | None = None
    sha256: str | None = None  # from a 201 answer
    error: str | None = None


@dataclass
class Tally:
    """What happened to every record of a run."""

    requested: int
    producers: int
    postings: list[Posting] = field(default_factory=list)
    arrivals: dict[str, tuple[float, str]] = field(default_factory=dict)  # key → (time, sha256 in the event)
    duplicated: int = 0
    business_bytes_mean: float = 0.0
    aas_bytes_mean: float = 0.0
    resources: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def accepted(self) -> list[Posting]:
        return [p for p in self.postings if p.sha256 is not None]

    def note(self, arrived: Sequence[tuple[float, dict[str, Any]]]) -> None:
        for at, event in arrived:
            self.arrivals[event["key"]] = (at, event["sha256"])


def prepare(count: int, tag: str, rng: random.Random, owner: Owner) -> tuple[list[tuple[str, bytes]], float, float]:
    """``count`` fresh orders as request bodies, with the mean size of their business JSON and (over a sample) of
    their AAS JSON. Made before the clock starts."""
    bodies = []
    for n in range(count):
        key = f"TP-{tag}-{n:07d}"
        bodies.append((key, orjson.dumps(order(key, rng))))
    sample = bodies[:: max(1, count // SIZE_SAMPLE)]
    aas_mean = statistics.fmean(aas_size("sales-order", orjson.loads(body), owner) for _, body in sample)
    return bodies, statistics.fmean(len(body) for _, body in bodies), aas_mean


async def post_all(member: AadsysProcess, bodies: Sequence[tuple[str, bytes]], tally: Tally, deadline: float,
                   arrivals: Arrivals, progress: Progress, tasks: tuple[Any, Any]) -> None:
    """``tally.producers`` concurrent producers post ``bodies`` until all are posted or ``deadline`` passes; the
    progress display follows what was answered and what arrived."""
    queued = iter(bodies)
    limits = httpx.Limits(max_connections=tally.producers, max_keepalive_connections=tally.producers)
    async with httpx.AsyncClient(base_url=member.url, limits=limits, timeout=60,
                                 headers={"X-API-Key": member.write_key, "Content-Type": "application/json"}) as client:
        async def producer() -> None:
            for key, body in queued:  # one shared iterator: each body is posted once, by whichever producer is free
                if time.perf_counter() >= deadline:
                    return
                posting = Posting(key, time.perf_counter())
                tally.postings.append(posting)
                try:
                    answer = await client.post(PATH, content=body)
                except httpx.HTTPError as exc:
                    posting.error = f"{type(exc).__name__}: {exc}"
                    continue
                posting.answered = time.perf_counter()
                if answer.status_code == 201:
                    posting.sha256 = answer.json()["sha256"]
                else:
                    posting.error = f"{answer.status_code} {answer.text[:200]}"

        def show() -> None:
            tally.note(arrivals.collect())
            progress.update(tasks[0], completed=sum(p.answered is not None for p in tally.postings))
            progress.update(tasks[1], completed=len(tally.arrivals))

        async def keep_showing() -> None:
            while True:
                show()
                await asyncio.sleep(0.1)

        display = asyncio.create_task(keep_showing())
        try:
            await asyncio.gather(*(producer() for _ in range(tally.producers)))
        finally:
            display.cancel()
            show()


def await_arrivals(tally: Tally, arrivals: Arrivals, progress: Progress, task: Any, limit: float) -> None:
    """Wait until every accepted record arrived, nothing arrived for ``STALL_SECONDS``, or ``limit`` seconds
    passed; then a second more, to catch a duplicate."""
    wanted = {p.key for p in tally.accepted}
    end, last_progress = time.perf_counter() + limit, time.perf_counter()
    while not wanted <= tally.arrivals.keys() and time.perf_counter() < end:
        arrived = arrivals.collect(timeout=0.2)
        if arrived:
            tally.note(arrived)
            last_progress = time.perf_counter()
            progress.update(task, completed=len(tally.arrivals))
        elif not arrivals.is_alive():
            raise BenchError(f"OMIS's event stream ended: {arrivals.error}")
        elif time.perf_counter() - last_progress > STALL_SECONDS:
            break
    time.sleep(1.0)
    tally.note(arrivals.collect())
    tally.duplicated = arrivals.duplicates


def run(*, count: int, producers: int, seconds: float, database_urls: tuple[str | None, str | None],
        json_path: Path | None, keep: Path | None, console: Console, postgresql: bool = False,
        workers: int = 1) -> int:
    """Runs the benchmark, prints the table, writes the JSON; returns the exit code (1 if anything was lost,
    duplicated or corrupted, or a POST failed). ``postgresql``: both AAdSys on databases of a throw-away,
    durable PostgreSQL cluster started for the run; ``workers``: worker processes of each AAdSys."""
    rng = random.Random()
    tag = os.urandom(3).hex()
    root = keep or Path(tempfile.mkdtemp(prefix="aadsys-bench-"))
    tally = Tally(count, producers)
    cluster = None
    try:
        if postgresql:
            with console.status("starting a PostgreSQL cluster (durable commits) …"):
                cluster = start_postgres(durable=True)
            database_urls = (cluster.create_database("pec"), cluster.create_database("omis"))
        with partners(root, database_urls, console, realtime=[("PEC", "OMIS")], workers=workers) as team:
            with console.status(f"making {count} orders of {ORDER_BYTES / 1000:.0f} KB …"):
                bodies, tally.business_bytes_mean, tally.aas_bytes_mean = prepare(count, tag, rng, team.pec.owner)
            arrivals = Arrivals(team.omis.member, "sales-order", team.pec.owner.org)
            arrivals.start()
            if not arrivals.listening.wait(10) or arrivals.error is not None:
                raise BenchError(f"cannot follow OMIS's event stream: {arrivals.error or 'no answer in 10 s'}")
            sampler = ResourceSampler({"pec": team.pec.member.running_pid, "omis": team.omis.member.running_pid})
            sampler.start()
            try:
                with Progress(TextColumn("{task.description:>14}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console) as progress:
                    tasks = (progress.add_task("posted at PEC", total=count),
                             progress.add_task("stored at OMIS", total=count))
                    begun = time.perf_counter()
                    asyncio.run(post_all(team.pec.member, bodies, tally, begun + seconds, arrivals, progress, tasks))
                    posting_took = time.perf_counter() - begun
                    progress.update(tasks[0], total=len(tally.postings))
                    progress.update(tasks[1], total=len(tally.accepted))
                    await_arrivals(tally, arrivals, progress, tasks[1], max(STALL_SECONDS, posting_took))
            finally:
                tally.resources = sampler.stop()
                arrivals.close()
    finally:
        if cluster is not None:
            cluster.stop()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report = build_report(tally, database_urls, workers)
    console.print(table(report))
    write_json(report, json_path, console)
    failed = report["lost"] or report["duplicated"] or report["corrupted"] or report["post_errors"]
    if failed:
        console.print(f"[red]{report['lost']} lost, {report['duplicated']} duplicated, {report['corrupted']} "
                      f"corrupted, {report['post_errors']} POSTs failed[/red]")
        for posting in [p for p in tally.postings if p.error][:5]:
            console.print(f"[red]  {posting.key}: {posting.error}[/red]", highlight=False)
    return 1 if failed else 0


def build_report(tally: Tally, database_urls: Sequence[str | None], workers: int = 1) -> dict[str, Any]:
    accepted = tally.accepted
    latency, arrived_at, transit = [], [], []
    corrupted = 0
    for posting in accepted:
        arrival = tally.arrivals.get(posting.key)
        if arrival is None:
            continue
        if arrival[1] != posting.sha256:
            corrupted += 1
            continue
        latency.append((arrival[0] - posting.started) * 1000)
        arrived_at.append(arrival[0])
        if posting.answered is not None:
            transit.append((arrival[0] - posting.answered) * 1000)
    post_ms = [(p.answered - p.started) * 1000 for p in accepted if p.answered is not None]
    lost = sum(p.key not in tally.arrivals for p in accepted)
    first_post = min((p.started for p in tally.postings), default=None)
    last_answer = max((p.answered for p in accepted if p.answered is not None), default=None)
    figures = summary(latency)
    stored_span = max(arrived_at) - min(arrived_at) if len(arrived_at) > 1 else None
    return {
        "rate_per_s": _rate(len(arrived_at) - 1, stored_span),
        "rate_from_first_post_per_s": _rate(len(arrived_at), max(arrived_at) - first_post
                                            if arrived_at and first_post is not None else None),
        "post_rate_per_s": _rate(len(accepted), last_answer - first_post
                                 if last_answer is not None and first_post is not None else None),
        "target_per_s": TARGET_PER_S,
        "requested": tally.requested, "count": len(tally.postings), "accepted": len(accepted),
        "ok": len(latency), "lost": lost, "duplicated": tally.duplicated, "corrupted": corrupted,
        "post_errors": sum(p.error is not None for p in tally.postings),
        **{f"{k}_ms": v for k, v in figures.items()},
        "post_mean_ms": _mean(post_ms), "transit_mean_ms": _mean(transit),
        "producers": tally.producers, "workers": workers,
        "business_bytes_mean": round(tally.business_bytes_mean), "aas_bytes_mean": round(tally.aas_bytes_mean),
        "resources": tally.resources, "machine": machine(database_urls),
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _rate(n: int, seconds: float | None) -> float | None:
    return round(n / seconds, 1) if seconds and n > 0 else None


def table(report: dict[str, Any]) -> Table:
    out = Table("figure", "value", "issue 7 target",
                title=f"throughput PEC → OMIS ({report['machine']['database']}, {report.get('workers', 1)} "
                      f"worker(s) each), {report['producers']} producers, {report['count']} Sales Orders of "
                      f"{report['business_bytes_mean'] / 1000:.1f} KB ({report['aas_bytes_mean'] / 1000:.1f} KB "
                      "of AAS JSON)")
    out.add_row("stored at OMIS, first → last arrival", _per_s(report["rate_per_s"]), f"≥ {TARGET_PER_S:,}/s")
    out.add_row("stored at OMIS, first POST → last arrival", _per_s(report["rate_from_first_post_per_s"]), "")
    out.add_row("answered by PEC (POST)", _per_s(report["post_rate_per_s"]), "")
    for k in ("mean", "p50", "p95", "p99", "max"):
        out.add_row(f"latency {k}, POST → OMIS event", f"{ms(report[f'{k}_ms'])} ms", "")
    out.add_row("of which, mean: POST answered / answer → OMIS event",
                f"{ms(report['post_mean_ms'])} / {ms(report['transit_mean_ms'])} ms", "")
    out.add_row("posted / ok / lost / duplicated / corrupted / failed POSTs",
                " / ".join(str(report[k]) for k in ("count", "ok", "lost", "duplicated", "corrupted", "post_errors")),
                "0 lost, duplicated or corrupted")
    resources = report["resources"]
    for name in ("pec", "omis"):
        r = resources.get(name, {})
        out.add_row(f"{name.upper()} CPU s / peak RSS", f"{r.get('cpu_s', '–')} s / {r.get('peak_mb', '–')} MB", "")
    m = report["machine"]
    out.caption = (f"{m['cores']} cores, Python {m['python']}, {m['database']}; the producers and the event stream "
                   "follower share the machine with both AAdSys")
    if report["requested"] != report["count"]:
        out.caption += f"; --seconds ended posting after {report['count']} of {report['requested']}"
    return out


def _per_s(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}/s"
