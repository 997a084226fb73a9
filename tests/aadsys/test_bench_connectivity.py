"""``aadsys bench connectivity``: its parts, and one short run of the whole thing on real processes.

These check that the benchmark measures what it says and fails when it should; the figures themselves are
for ``make bench``, never asserted here."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from aadsys.benchmark.connectivity import Arrivals, summary, websocket_floor
from aadsys.benchmark.records import SIZED, aas_size, parse_size
from aas_models import Owner

OWNERS = {"sales-order": Owner("pec", "https://pec.example"),
          "sales-order-status": Owner("omis", "https://omis.example")}


@pytest.mark.parametrize(("text", "expected"), [("100KB", 100_000), ("2kb", 2_000), ("1.5MB", 1_500_000),
                                                ("4096", 4_096)])
def test_sizes_read_as_the_paper_writes_them(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "message"), [("lots", "not a size"), ("10B", "outside 1KB"),
                                               ("5MB", "outside 1KB")])
def test_a_bad_size_says_what_would_do(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(text)


@pytest.mark.parametrize("asset_type", sorted(SIZED))
@pytest.mark.parametrize("target", [20_000, 100_000])
def test_records_are_valid_about_the_asked_size_and_never_alike(asset_type: str, target: int) -> None:
    rng = random.Random(7)
    owner = OWNERS[asset_type]
    (first, first_size), (second, second_size) = (SIZED[asset_type](f"B-{n}", target, owner, rng) for n in (1, 2))

    for record, size in ((first, first_size), (second, second_size)):
        assert aas_size(asset_type, record, owner) == size  # rendering also validates
        assert abs(size - target) <= target * 0.05
    assert {k: v for k, v in first.items() if k != "orderId"} != {k: v for k, v in second.items() if k != "orderId"}


def test_summary_uses_nearest_rank_percentiles() -> None:
    figures = summary([float(n) for n in range(100, 0, -1)])

    assert figures == {"mean": 50.5, "p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert summary([]) == dict.fromkeys(("mean", "p50", "p95", "p99", "max"))


def test_arrivals_find_each_record_and_count_any_that_comes_twice() -> None:
    arrivals = Arrivals(SimpleNamespace(name="omis", url="http://127.0.0.1:9", write_key="k"),  # type: ignore[arg-type]
                        "sales-order", "pec")
    for n, key in enumerate(["A", "A", "B"]):
        arrivals.events.put((float(n), {"key": key, "sha256": "x"}))

    first, second = arrivals.next_for("A", 1), arrivals.next_for("B", 1)
    arrivals.events.put((3.0, {"key": "B", "sha256": "x"}))
    arrivals.drain()
    arrivals.close()

    assert first is not None and first[0] == 0.0 and second is not None and second[0] == 2.0
    assert arrivals.next_for("C", 0.05) is None
    assert arrivals.duplicates == 2


def test_the_floor_is_a_websocket_round_trip_of_the_same_bytes() -> None:
    times = websocket_floor(50_000, 5)

    assert len(times) == 5 and all(t > 0 for t in times)


def test_a_short_run_reports_both_directions_in_json_and_a_plot(tmp_path: Path) -> None:
    report_path, plot_path = tmp_path / "out" / "connectivity.json", tmp_path / "out" / "connectivity.png"
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "connectivity", "--runs", "3", "--warmup", "1",
                           "--size", "10KB", "--json", str(report_path), "--plot", str(plot_path), "--keep",
                           str(tmp_path / "processes")],
                          capture_output=True, text=True, timeout=180, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    directions = {(d["from"], d["to"]): d for d in report["directions"]}
    assert set(directions) == {("PEC", "OMIS"), ("OMIS", "PEC")}
    for d in directions.values():
        assert (d["runs"], d["ok"], d["lost"], d["duplicated"], d["corrupted"]) == (3, 3, 0, 0, 0)
        assert 0 < d["p50_ms"] <= d["p95_ms"] <= d["p99_ms"] <= d["max_ms"]
        assert d["post_mean_ms"] < d["mean_ms"] and abs(d["aas_bytes_mean"] - 10_000) < 1_500
    assert directions[("PEC", "OMIS")]["paper_mean_ms"] == 121.0
    assert report["floor_ms"] > 0 and report["ratio"] > 1
    assert report["machine"]["cores"] >= 1 and report["machine"]["database"] == "sqlite"
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PEC → OMIS" in done.stdout and "paper" in done.stdout


def test_a_bad_size_is_refused_before_anything_starts() -> None:
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "connectivity", "--size", "huge"],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2 and "--size: 'huge' is not a size" in done.stderr
