"""``aadsys bench reads``: wrk's output read right, the cursors of the middle pages, and one tiny run of the whole
command against a real ``aadsys serve`` with the real wrk. The figures themselves are for ``make bench``, never
asserted here.

wrk is a Debian package (``scripts/ensure-system-packages.sh`` installs it for ``make test`` and ``make bench``);
without it the run fails, naming it, rather than being skipped."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aadsys.benchmark import reads

WRK = Path("/usr/bin/wrk")


GOOD = """Running 2s test @ http://127.0.0.1:18099/api/v3.0/shells?limit=100
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   152.19ms   75.91ms 432.09ms   68.52%
    Req/Sec    54.21     17.42    80.00     73.68%
  Latency Distribution
     50%  839.00us
     75%  195.66ms
     90%  258.40ms
     99%    1.25s
  104 requests in 2.00s, 6.17MB read
Requests/sec:     51.89
Transfer/sec:      3.08MB
"""

BAD = """Running 2s test @ http://127.0.0.1:18099/api/v3.0/shells?limit=100
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.69ms   26.31ms 194.97ms   93.37%
    Req/Sec     1.20k   450.05     1.65k    90.00%
  Latency Distribution
     50%    5.84ms
     75%    7.61ms
     90%   11.59ms
     99%  154.13ms
  2396 requests in 2.00s, 842.34KB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 2396
Requests/sec:   1196.28
Transfer/sec:    420.57KB
"""


def test_wrk_figures_are_read_in_milliseconds() -> None:
    figures = reads.parse_wrk(GOOD)

    assert figures == {"rps": 51.89, "p50_ms": 0.839, "p99_ms": 1250.0, "requests": 104, "non_2xx": 0,
                       "socket_errors": {}}
    assert reads.problem(figures) is None


def test_non_2xx_answers_and_socket_errors_are_a_problem() -> None:
    figures = reads.parse_wrk(BAD)

    assert (figures["non_2xx"], figures["socket_errors"]) == (2396, {"read": 3, "timeout": 2})
    assert reads.problem(figures) == "2396 non-2xx answers; socket errors read 3, timeout 2"
    with pytest.raises(ValueError, match="not wrk --latency output"):
        reads.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_middle_cursors_start_at_the_instance_with_that_row_id() -> None:
    def text(cursor: str) -> str:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()

    assert text(reads.middle_cursor("shells", 501)) == "i501:"
    assert text(reads.middle_cursor("submodels", 501)) == \
        "i501:https://pec.example/ids/sm/sales-order/HI-r-0000500/SalesOrder"


def test_a_tiny_run_measures_every_read_without_errors(tmp_path: Path) -> None:
    if not WRK.exists():
        pytest.fail("wrk is missing (/usr/bin/wrk): install the Debian package 'wrk' "
                    "(make test and make bench do it through scripts/ensure-system-packages.sh)")
    report_path = tmp_path / "out" / "reads.json"
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "reads", "--count", "200", "--seconds", "1",
                           "--connections", "8", "--scale", "200,400", "--scale-seconds", "1", "--scale-connections",
                           "8", "--json", str(report_path), "--keep", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=150, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert [(r["read"], r["connections"]) for r in report["reads"]] == [(name, 8) for name, _ in reads.READS]
    assert [(r["size"], r["read"], r["page"], r["connections"]) for r in report["scale"]] == [
        (size, name, page, clients) for size in (200, 400)
        for name, page in [*((n, p) for n in reads.LISTS for p in ("first", "middle")), (reads.LOOKUP, "one")]
        for clients in (8,)]
    for r in report["reads"] + report["scale"]:
        assert r["rps"] > 0 and r["requests"] > 0, r
        assert (r["non_2xx"], r["socket_errors"], r["problem"]) == (0, {}, None), r
        assert 0 < r["p50_ms"] <= r["p99_ms"], r
    assert [(load["to"], load["added"]) for load in report["loads"]] == [(200, 200), (200, 200), (400, 200)]
    assert all(load["rate_per_s"] > 0 for load in report["loads"])
    assert report["machine"]["wrk"].startswith("wrk") and report["machine"]["database"] == "sqlite"
    assert report["machine"]["cores"] >= 1 and report["machine"]["python"]
    assert "req/s" in done.stdout and "middle" in done.stdout
