"""``aadsys bench history``: the bulk loader, the memory sampler, the exactness checks, and one short run of the
whole thing on real processes.

The loader must store rows exactly as the business API would: these tests read loaded records back through the
gateway's business API and its AAS API beside one created over HTTP. The figures themselves are for
``make bench``, never asserted here."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aadsys.benchmark import history
from aadsys.benchmark._observing import ResourceSampler
from aadsys.benchmark.preload import Preloaded, preload, spread, transfer_digest
from aadsys.benchmark.records import order
from aadsys.config import Settings
from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from connector.data._outbox import transfer_digest as connectors_digest
from tests.support.live_server import live_server, loopback_client

BASE = "/api/v1/asset-types/sales-order/instances"
RANGE_TO = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RANGE_FROM = RANGE_TO - timedelta(hours=1)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def shape(value: Any) -> Any:
    """The structure of a JSON value without its scalars: what an API-created and a loaded record share."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


@pytest.mark.parametrize(("text", "expected"), [("10000,100000", [10_000, 100_000]), ("10k, 100k", [10_000, 100_000]),
                                                ("300", [300])])
def test_sizes_read_as_counts(text: str, expected: list[int]) -> None:
    assert history.parse_sizes(text) == expected


@pytest.mark.parametrize(("text", "message"), [("lots", "not a count"), ("0", "outside 1"), ("2000000", "outside 1"),
                                               ("10000,", "not a count")])
def test_a_bad_size_says_what_would_do(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        history.parse_sizes(text)


def test_moments_spread_over_the_range_with_both_bounds_on_it() -> None:
    moments = spread(5, RANGE_FROM, RANGE_TO)

    assert moments[0] == RANGE_FROM and moments[-1] == RANGE_TO
    assert moments == sorted(set(moments)) and moments[2] == RANGE_FROM + timedelta(minutes=30)
    assert spread(1, RANGE_FROM, RANGE_TO) == [RANGE_FROM]
    with pytest.raises(ValueError, match="do not fit"):
        spread(3, RANGE_FROM, RANGE_FROM + timedelta(microseconds=1))


def test_the_digest_checked_is_the_one_the_connectors_compute() -> None:
    lines = [(1, ("SO-1", "a" * 64)), (2, ("SO-2", "b" * 64))]

    assert transfer_digest(lines) == connectors_digest((seq, key, sha) for seq, (key, sha) in lines)[1]


def test_loaded_records_are_what_the_business_api_would_have_stored(settings: Settings) -> None:
    loaded = preload(settings, 5, RANGE_FROM, RANGE_TO, tag="t", rng=random.Random(7), outside=1, batch=3)
    ctx = AadsysContext.build(settings)
    key = api_keys.create_key(ctx.db, "erp", ["write"])
    try:
        with live_server(create_app(settings, context=ctx)) as url, \
                loopback_client(base_url=url, headers={"X-API-Key": key}) as api:
            made = api.post(BASE, json=order("SO-API", random.Random(8))).raise_for_status().json()
            listed = api.get(BASE, params={"from": RANGE_FROM.isoformat(), "to": RANGE_TO.isoformat()}).json()
            everything = api.get(BASE, params={"limit": 500}).json()["items"]
            first = api.get(f"{BASE}/{loaded.keys[0]}")
            again = api.post(BASE, json=first.json())
            aas = api.get(f"{BASE}/{loaded.keys[0]}", params={"format": "aas"})
            shells = {k: api.get(f"/api/v3.0/shells/{b64(f'https://pec.example/ids/aas/sales-order/{k}')}")
                      for k in (loaded.keys[0], "SO-API")}
            submodels = {k: api.get(f"/api/v3.0/submodels/{b64(s.json()['submodels'][0]['keys'][0]['value'])}")
                         for k, s in shells.items()}
            with api.stream("GET", "/api/v1/events", params={"after": 0}) as events:
                streamed = []
                for line in events.iter_lines():
                    if line.startswith("data:"):
                        streamed.append(json.loads(line[5:])["key"])
                    if len(streamed) == 8:
                        break
    finally:
        ctx.db.dispose()

    assert (loaded.count, len(loaded.outside_keys)) == (5, 2)
    items = listed["items"]
    assert [i["key"] for i in items] == loaded.keys and [i["sha256"] for i in items] == loaded.sha256
    assert [i["createdAt"] for i in items] == [m.isoformat().replace("+00:00", "Z")
                                               for m in spread(5, RANGE_FROM, RANGE_TO)]
    assert {i["key"] for i in everything} == {*loaded.keys, *loaded.outside_keys, "SO-API"}
    api_made = next(i for i in everything if i["key"] == "SO-API")
    assert all(shape(i) == shape(api_made) for i in everything)
    assert [i["seq"] for i in everything] == sorted(i["seq"] for i in everything)
    # the same business JSON posted again is an idempotent repeat: the loader stored the API's exact bytes
    assert again.status_code == 200 and again.json()["sha256"] == loaded.sha256[0] != made["sha256"]
    assert hashlib.sha256(aas.content).hexdigest() == loaded.sha256[0] == first.headers["ETag"].strip('"')
    assert all(r.status_code == 200 for r in (*shells.values(), *submodels.values()))
    assert shape(shells[loaded.keys[0]].json()) == shape(shells["SO-API"].json())
    assert shape(submodels[loaded.keys[0]].json()) == shape(submodels["SO-API"].json())
    assert streamed == [*loaded.outside_keys[:1], *loaded.keys, *loaded.outside_keys[1:], "SO-API"]


def test_the_sampler_sees_a_process_grow_and_reports_its_peak(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; b = bytearray(96 * 1024 * 1024); b[::4096] = "
                              "b'x' * len(b[::4096]); print('ready', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        sampler = ResourceSampler({"child": child.pid}, interval=0.05)
        sampler.start()
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        report = sampler.stop()["child"]
    finally:
        child.communicate("", timeout=10)

    assert report["peak_mb"] >= report["baseline_mb"] + 90
    assert report["hwm_mb"] >= report["peak_mb"] - 1 and report["cpu_s"] >= 0  # the kernel's counts lag a little
    assert sampler.stop()["child"] == report  # stopping twice gives the same report


def exact_replay() -> history.Replay:
    loaded = Preloaded(RANGE_FROM, RANGE_TO, keys=["A", "B", "C"], sha256=["1" * 64, "2" * 64, "3" * 64],
                       outside_keys=["X"], seconds=0.5, business_bytes=[2000], aas_bytes=[10_000])
    approved = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    job = {"state": "reported", "count": 3, "total": 3, "digest": loaded.digest(), "reason": None}
    held = history.Holdings(3, loaded.digest(), True, approved + timedelta(seconds=0.5),
                            approved + timedelta(seconds=1.5), dict(zip(loaded.keys, loaded.sha256, strict=True)))
    return history.Replay(3, loaded, approved, 2.0, job, dict(job),
                          {"state": "completed", "providerCount": 3, "consumerCount": 3}, {
                              "pec": {"baseline_mb": 100.0, "peak_mb": 120.0}}, held, 0)


def test_an_exact_replay_reports_its_figures() -> None:
    report = history.report_of(exact_replay())

    assert report["exact"] and report["problems"] == []
    assert (report["seconds"], report["rate_per_s"], report["first_arrival_s"]) == (1.5, 2.0, 0.5)
    assert (report["stored_span_s"], report["rate_while_storing_per_s"], report["complete_s"]) == (1.0, 3.0, 2.0)
    assert report["load_rate_per_s"] == 6.0 and report["rss"]["pec"]["peak_mb"] == 120.0
    whole = history.build_report([report], (None, None))
    assert whole["targets"] == {"rate_per_s": 5000, "rss_mb": 200, "rss_at_count": 100_000}
    assert "PEC peak RSS 120.0 MB at 3" in history.side_by_side(whole)


def test_every_shortfall_of_a_replay_is_named() -> None:
    good = exact_replay()
    held = replace(good.held, stored=2, digest="sha256:other", seqs_in_order=False,
                   instances={"A": "1" * 64, "B": "0" * 64, "X": "9" * 64})
    bad = replace(good, held=held, job={**good.job, "state": "finished"}, transfer={"state": "failed", "reason": "r"},
                  api_mismatches=2)

    found = history.problems(bad)

    assert history.problems(good) == []
    assert found == ["OMIS's inbox holds 2 of 3", "the inbox's seqs are not 1 … N",
                     "the inbox's digest is not that of the loaded range",
                     "2 of PEC's records missing or different at OMIS", "1 of the records outside the range arrived",
                     "OMIS's history job: finished, count 3", "portal transfer failed: r",
                     "2 sampled records wrong through OMIS's business API"]


def test_a_short_run_replays_exactly_and_reports_json(tmp_path: Path) -> None:
    report_path = tmp_path / "out" / "history.json"
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "history", "--sizes", "300", "--json",
                           str(report_path), "--keep", str(tmp_path / "processes")],
                          capture_output=True, text=True, timeout=180, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    (size,) = report["sizes"]
    assert (size["count"], size["stored"], size["exact"], size["problems"]) == (300, 300, True, [])
    assert size["consumer_job"]["digest"] == size["provider_job"]["digest"] == size["digest"]
    assert size["portal_transfer"] == {"state": "completed", "providerCount": 300, "consumerCount": 300,
                                       "reason": None}
    assert size["api_mismatches"] == 0 and size["outside_range"] == 6
    assert 0 < size["first_arrival_s"] <= size["seconds"] <= size["complete_s"]
    assert size["rate_per_s"] > 0 and size["load_rate_per_s"] > 0
    for name in ("pec", "omis"):
        rss = size["rss"][name]
        assert 0 < rss["baseline_mb"] <= rss["peak_mb"] and rss["hwm_mb"] > 0 and rss["cpu_s"] > 0
    assert report["targets"]["rate_per_s"] == 5000 and report["machine"]["database"] == "sqlite"
    assert "≥ 5,000" in done.stdout and "PEC peak RSS" in done.stdout


@pytest.mark.parametrize(("args", "message"), [(["--sizes", "lots"], "--sizes: 'lots' is not a count"),
                                               (["--sizes", "10,20", "--pec-database-url", "postgresql://x/y"],
                                                "one size per run")])
def test_bad_input_is_refused_before_anything_starts(args: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "aadsys", "bench", "history", *args],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2 and message in " ".join(done.stderr.split())
