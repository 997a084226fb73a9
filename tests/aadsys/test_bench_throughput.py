"""``aadsys bench throughput``: its parts, and one short run of the whole thing on real processes.

These check that the benchmark counts what it says and fails when it should; the figures themselves are for
``make bench``, never asserted here."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from aadsys.benchmark import throughput
from aadsys.benchmark.throughput import Posting, Tally
from aas_models import Owner, render_instance

PEC = Owner("pec", "https://pec.example")


def test_orders_are_fresh_valid_2kb_records_made_before_the_clock_starts() -> None:
    bodies, business_mean, aas_mean = throughput.prepare(20, "t", random.Random(3), PEC)

    keys = [key for key, _ in bodies]
    assert keys == [f"TP-t-{n:07d}" for n in range(20)]
    rendered = [render_instance("sales-order", body, PEC) for _, body in bodies]  # also validates
    assert [r.key for r in rendered] == keys and len({r.sha256 for r in rendered}) == 20
    assert len({orjson.dumps({**orjson.loads(b), "orderId": ""}) for _, b in bodies}) == 20
    assert 1500 <= business_mean <= 2100 and 8000 <= aas_mean <= 13_000


def tally_of(outcomes: list[tuple[str, float, float | None, str | None, str | None]],
             arrivals: dict[str, tuple[float, str]], duplicated: int = 0) -> Tally:
    tally = Tally(requested=len(outcomes) + 1, producers=2, duplicated=duplicated)
    for key, started, answered, sha, error in outcomes:
        tally.postings.append(Posting(key, started, answered, sha, error))
    tally.arrivals = arrivals
    return tally


def test_the_report_counts_every_record_once_and_times_each_from_its_post() -> None:
    tally = tally_of([("A", 0.0, 0.010, "a", None), ("B", 0.005, 0.020, "b", None), ("C", 0.010, 0.030, "c", None),
                      ("D", 0.015, 0.040, "d", None), ("E", 0.020, None, None, "ReadTimeout: slow")],
                     {"A": (0.050, "a"), "B": (0.100, "b"), "C": (0.150, "X"), "Z": (0.2, "z")}, duplicated=1)

    report = throughput.build_report(tally, (None, None))

    assert (report["requested"], report["count"], report["accepted"], report["ok"]) == (6, 5, 4, 2)
    assert (report["lost"], report["duplicated"], report["corrupted"], report["post_errors"]) == (1, 1, 1, 1)
    assert (report["p50_ms"], report["p99_ms"], report["max_ms"]) == (50.0, 95.0, 95.0)
    assert report["rate_per_s"] == 20.0  # 2 arrivals, 50 ms apart: one interval
    assert report["rate_from_first_post_per_s"] == 20.0  # 2 arrivals in the 100 ms since the first POST began
    assert report["post_rate_per_s"] == 100.0  # 4 answered in 40 ms
    assert (report["post_mean_ms"], report["transit_mean_ms"]) == (17.5, 60.0)  # POSTs A–D; A and B after them
    assert report["target_per_s"] == 2000 and report["producers"] == 2
    assert set(report["machine"]) == {"cores", "python", "platform", "database"}


def test_a_run_without_arrivals_has_no_rates() -> None:
    report = throughput.build_report(tally_of([("A", 0.0, 0.01, "a", None)], {}), (None, None))

    assert (report["lost"], report["rate_per_s"], report["p50_ms"]) == (1, None, None)


def test_a_short_run_stores_every_order_once_and_reports_json(tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "throughput.json"
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "throughput", "--count", "200", "--producers",
                           "4", "--json", str(report_path), "--keep", str(tmp_path / "processes")],
                          capture_output=True, text=True, timeout=180, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert (report["requested"], report["count"], report["accepted"], report["ok"]) == (200, 200, 200, 200)
    assert (report["lost"], report["duplicated"], report["corrupted"], report["post_errors"]) == (0, 0, 0, 0)
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert 0 < report["post_mean_ms"] < report["mean_ms"]
    assert report["rate_per_s"] > 0 and report["post_rate_per_s"] > 0 and report["producers"] == 4
    assert report["target_per_s"] == 2000 and report["machine"]["database"] == "sqlite"
    assert report["machine"]["cores"] >= 1 and isinstance(report["machine"]["python"], str)
    for name in ("pec", "omis"):
        assert report["resources"][name]["peak_mb"] > 0 and report["resources"][name]["cpu_s"] > 0
    assert "≥ 2,000/s" in done.stdout and "stored at OMIS" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--producers", "0"], "--producers"), (["--count", "many"], "--count"),
    (["--workers", "3"], "add --database postgresql"), (["--database", "mysql"], "neither sqlite nor postgresql"),
    (["--database", "postgresql", "--pec-database-url", "sqlite:///x.db"], "starts its own cluster")])
def test_bad_input_is_refused_before_anything_starts(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "throughput", *args],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2 and message in done.stderr
