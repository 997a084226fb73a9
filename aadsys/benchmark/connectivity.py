"""``aadsys bench connectivity``: the reference paper's test (its Table 1), against a floor measured in the same run.

A portal and two AAdSys (PEC and OMIS) run as real processes on loopback, with approved real-time
subscriptions both ways. Each run posts a fresh record through the provider's business API and ends when the
consumer's own event stream (``/api/v1/events``) reports it stored: that is the latency a partner's ERP sees.
Its parts: the provider's POST (until it answered, i.e. committed), and the rest (provider commit → consumer
commit, as the consumer's event stream reports it). The floor is a raw websocket round trip of the same number
of bytes on loopback, compression off.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aadsys.benchmark._figures import machine, ms, summary, write_json
from aadsys.benchmark._observing import Arrivals
from aadsys.benchmark._processes import BenchError, Side, partners
from aadsys.benchmark.records import SIZED

PAPER_MEAN_MS = {("PEC", "OMIS"): 121.0, ("OMIS", "PEC"): 114.0}  # Table 1: 1000 runs of 100 KB
ARRIVAL_TIMEOUT = 30.0  # a run whose record has not arrived by then counts as lost
LOST_IN_A_ROW = 5  # then a direction stops, counting its remaining runs as lost


@dataclass
class Direction:
    provider: Side
    consumer: Side
    latency_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    aas_bytes: list[int] = field(default_factory=list)
    lost: int = 0
    corrupted: int = 0
    duplicated: int = 0

    @property
    def label(self) -> str:
        return f"{self.provider.name} → {self.consumer.name}"

    def report(self, runs: int) -> dict[str, Any]:
        figures = summary(self.latency_ms)
        transit = [total - post for total, post in zip(self.latency_ms, self.post_ms, strict=True)]
        return {"from": self.provider.name, "to": self.consumer.name, "assetType": self.provider.publishes,
                "runs": runs, "ok": len(self.latency_ms), "lost": self.lost, "duplicated": self.duplicated,
                "corrupted": self.corrupted, **{f"{k}_ms": v for k, v in figures.items()},
                "post_mean_ms": _mean(self.post_ms), "transit_mean_ms": _mean(transit),
                "aas_bytes_mean": round(statistics.fmean(self.aas_bytes)) if self.aas_bytes else 0,
                "paper_mean_ms": PAPER_MEAN_MS.get((self.provider.name, self.consumer.name))}


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def websocket_floor(size: int, runs: int) -> list[float]:
    """Round trips (ms) of ``size`` random bytes over a raw websocket on loopback, compression off."""
    from websockets.sync.client import connect
    from websockets.sync.server import ServerConnection, serve

    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    times = []
    with serve(echo, "127.0.0.1", 0, compression=None, max_size=None) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as client:
            for _ in range(runs):
                payload = os.urandom(size)
                start = time.perf_counter()
                client.send(payload)
                if client.recv() != payload:
                    raise RuntimeError("the websocket echo came back different")
                times.append((time.perf_counter() - start) * 1000)
        server.shutdown()
    return times


def measure(direction: Direction, runs: int, warmup: int, size: int, rng: random.Random, progress: Progress,
            tag: str) -> None:
    provider, consumer = direction.provider, direction.consumer
    arrivals = Arrivals(consumer.member, provider.publishes, provider.owner.org)
    arrivals.start()
    if not arrivals.listening.wait(10) or arrivals.error is not None:
        raise BenchError(f"cannot follow {consumer.name}'s event stream: {arrivals.error or 'no answer in 10 s'}")
    task = progress.add_task(direction.label, total=runs)
    lost_in_a_row = 0
    try:
        with provider.member.api() as api:
            for n in range(-warmup, runs):
                if lost_in_a_row == LOST_IN_A_ROW:  # the channel is down: the rest would only wait out timeouts
                    direction.lost += runs - max(n, 0)
                    break
                key = f"BENCH-{tag}-{provider.name}-{n + warmup:05d}"
                record, aas_bytes = SIZED[provider.publishes](key, size, provider.owner, rng)
                start = time.perf_counter()
                answer = api.post(f"/api/v1/asset-types/{provider.publishes}/instances", json=record)
                posted = time.perf_counter()
                answer.raise_for_status()
                arrival = arrivals.next_for(key, ARRIVAL_TIMEOUT)
                lost_in_a_row = lost_in_a_row + 1 if arrival is None else 0
                if arrival is None and not arrivals.is_alive():
                    raise BenchError(f"{consumer.name}'s event stream ended: {arrivals.error}")
                if n < 0:
                    continue
                progress.advance(task)
                if arrival is None:
                    direction.lost += 1
                    continue
                at, event = arrival
                if event["sha256"] != answer.json()["sha256"]:
                    direction.corrupted += 1
                    continue
                direction.latency_ms.append((at - start) * 1000)
                direction.post_ms.append((posted - start) * 1000)
                direction.aas_bytes.append(aas_bytes)
        time.sleep(1.0)  # a duplicate would show up now
        arrivals.drain()
        direction.duplicated = arrivals.duplicates
    finally:
        arrivals.close()


def run(*, runs: int, size: int, warmup: int, database_urls: tuple[str | None, str | None], json_path: Path | None,
        plot_path: Path | None, keep: Path | None, console: Console) -> int:
    """Runs the benchmark, prints the table, writes the files; returns the exit code (1 if anything was lost,
    duplicated or corrupted)."""
    rng = random.Random()
    tag = os.urandom(3).hex()
    root = keep or Path(tempfile.mkdtemp(prefix="aadsys-bench-"))
    try:
        with partners(root, database_urls, console) as team:
            directions = [Direction(team.pec, team.omis), Direction(team.omis, team.pec)]
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=console) as progress:
                for direction in directions:
                    measure(direction, runs, warmup, size, rng, progress, tag)
                floor_task = progress.add_task("websocket floor", total=None)
                floor = websocket_floor(size, runs)
                progress.update(floor_task, total=1, completed=1)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report = build_report(directions, runs, size, floor, database_urls)
    console.print(table(report))
    write_json(report, json_path, console)
    if plot_path is not None:
        plot(directions, report, plot_path)
        console.print(f"wrote {plot_path}")
    failed = [d for d in report["directions"] if d["lost"] or d["duplicated"] or d["corrupted"]]
    for d in failed:
        console.print(f"[red]{d['from']} → {d['to']}: {d['lost']} lost, {d['duplicated']} duplicated, "
                      f"{d['corrupted']} corrupted[/red]")
    return 1 if failed else 0


def build_report(directions: Sequence[Direction], runs: int, size: int, floor: Sequence[float],
                 database_urls: tuple[str | None, str | None]) -> dict[str, Any]:
    reports = [d.report(runs) for d in directions]
    floor_ms = round(statistics.fmean(floor), 3)
    means = [r["mean_ms"] for r in reports if r["mean_ms"] is not None]
    return {"directions": reports, "floor_ms": floor_ms,
            "ratio": round(max(means) / floor_ms, 1) if means and floor_ms else None, "size_bytes": size,
            "machine": machine(database_urls)}


def table(report: dict[str, Any]) -> Table:
    out = Table("direction", "runs", "ok", "lost", "mean ms", "p50", "p95", "p99", "max", "POST", "transit",
                "paper (Table 1)", title=f"connectivity, {report['size_bytes'] / 1000:.0f} KB of AAS JSON per run")
    for d in report["directions"]:
        out.add_row(f"{d['from']} → {d['to']}", str(d["runs"]), str(d["ok"]), str(d["lost"]),
                    *(ms(d[f"{k}_ms"]) for k in ("mean", "p50", "p95", "p99", "max", "post_mean", "transit_mean")),
                    ms(d["paper_mean_ms"]))
    out.caption = (f"floor: websocket round trip of the same bytes on loopback {report['floor_ms']:.2f} ms; "
                   f"worse direction's mean / floor = {report['ratio']}× · {report['machine']['cores']} cores, "
                   f"Python {report['machine']['python']}, {report['machine']['database']}")
    return out


def plot(directions: Sequence[Direction], report: dict[str, Any], path: Path) -> None:
    """Latency CDF and histogram per direction (matplotlib, headless)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: install the 'bench' extra (pip install 'aadsys[bench]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cdf, histogram) = plt.subplots(1, 2, figsize=(12, 4.5))
    for direction in directions:
        values = sorted(direction.latency_ms)
        if not values:
            continue
        cdf.plot(values, [(n + 1) / len(values) for n in range(len(values))], label=direction.label)
        histogram.hist(values, bins=50, alpha=0.6, label=direction.label)
    for axes in (cdf, histogram):
        axes.axvline(report["floor_ms"], color="grey", linestyle=":", label="websocket floor")
        axes.set_xlabel("latency, ms (POST at the provider → stored event at the consumer)")
        axes.legend()
    cdf.set_ylabel("share of runs")
    histogram.set_ylabel("runs")
    figure.suptitle(f"AAdSys connectivity: {report['directions'][0]['runs']} runs per direction, "
                    f"{report['size_bytes'] / 1000:.0f} KB, {report['machine']['database']}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
