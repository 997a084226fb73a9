"""CLI start-up benchmark: how long each operator command takes, from its start to its exit, on this machine.

The goal: a command that talks to one server answers in under a second. The script builds a small
chain on loopback: an ABM Portal (running) and two members, PEC and OMIS, made with ``aadsys init`` and run once
with ``aadsys serve`` until their connectors registered and published, with one real-time subscription, one
completed historical transfer (two Sales Orders) and one rejected request. Then it stops the two members, so
that only the portal is left running and nothing else competes for the CPU, and runs each command ``--runs``
times after one warm-up run (``subprocess.run``; wall time from ``time.perf_counter``, CPU time from
``getrusage``), printing the wall time's min, median and max and the CPU time's median: on a shared machine the
CPU time says what the command costs when others make the wall time drift. Commands run as an operator types
them: the console scripts of this virtual environment, with ``--data-dir``.

``--vs DIR`` times the same commands with ``PYTHONPATH=DIR`` too (e.g. an older checkout unpacked with ``git
archive BASE | tar -x -C /tmp/before``), alternating the two by run so that a drift of the machine's speed
touches both alike: a before/after in one session. ``--env`` and ``--vs-env`` set variables for either side;
``--vs-env PYTHONPYCACHEPREFIX=/tmp/empty`` (with PYTHONDONTWRITEBYTECODE=1) runs a side without any bytecode
cache, as a shell that never wrote one does (``make install`` compiles it).

    .venv/bin/python bench/cli.py [--runs 7] [--vs /tmp/before] [--env K=V] [--vs-env K=V] [--only NAMES]
                                  [--json bench/results/cli.json] [--keep-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aadsys.demo_processes import QUICK, Member, Portal, free_port, wait_for  # noqa: E402

from aadsys.samples import sales_order  # noqa: E402

BIN = Path(sys.executable).parent
CHAIN_FILE = "chain.json"


def commands(pec: Path, omis: Path, portal: Path, asset_id: str) -> dict[str, list[str]]:
    """What is timed: each command that talks to one server, as an operator would type it."""
    def aadsys(data_dir: Path, *args: str) -> list[str]:
        return [str(BIN / "aadsys"), *args, "--data-dir", str(data_dir)]

    return {
        "aadsys --help": [str(BIN / "aadsys"), "--help"],
        "connector status": aadsys(omis, "connector", "status"),
        "connector subscriptions": aadsys(omis, "connector", "subscriptions"),
        "connector transfers": aadsys(omis, "connector", "transfers", "--no-watch"),
        "connector catalog": aadsys(omis, "connector", "catalog"),
        "connector request": aadsys(omis, "connector", "request", "--asset", asset_id),  # one more each run
        "connector publish": aadsys(pec, "connector", "publish", "--type", "sales-order"),
        "keys list": aadsys(pec, "keys", "list"),
        "abm-portal keys rotate --help": [str(BIN / "abm-portal"), "keys", "rotate", "--help"],
        "abm-portal token create": [str(BIN / "abm-portal"), "token", "create", "--user", "admin@pec.example",
                                    "--name", "bench", "--data-dir", str(portal)],
    }


def build(root: Path) -> tuple[Portal, Member, Member, str]:
    """Portal (left running), PEC and OMIS (stopped again) with a real-time, a historical and a rejected
    subscription; returns the drivers and PEC's Sales Order asset id."""
    portal = Portal(root / "portal", free_port())
    portal.init()
    orgs = {name: portal.register(name, f"admin@{name.lower()}.example", "bench password") for name in ("PEC", "OMIS")}
    portal.start()
    pec = Member("pec", root / "pec", free_port(), org="pec", base_iri="https://pec.example",
                 env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": '["sales-order"]'})
    omis = Member("omis", root / "omis", free_port(), org="omis", base_iri="https://omis.example",
                  env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": '["sales-order-status"]'})
    for member, name in ((pec, "PEC"), (omis, "OMIS")):
        member.init(portal, orgs[name])
        member.start()
    start = datetime.now(UTC) - timedelta(seconds=1)
    with pec.api() as api:
        for order_id in ("B-1", "B-2"):
            api.post("/api/v1/asset-types/sales-order/instances", json=sales_order(order_id)).raise_for_status()
    asset_id = str(omis.find_asset("sales-order", "PEC")["id"])
    portal.decide(omis.request(asset_id), orgs["PEC"])
    time.sleep(1)
    historical = omis.request(asset_id, "historical", "--from", start.isoformat(),
                              "--to", datetime.now(UTC).isoformat())
    portal.decide(historical, orgs["PEC"])
    portal.decide(omis.request(asset_id), orgs["PEC"], "reject", reason="we supply OMIS through a reseller")

    def completed() -> bool:
        with portal.api(orgs["OMIS"].admin_token) as api:
            found = api.get(f"/api/v1/subscriptions/{historical}").raise_for_status().json()
        return bool(found["transfer"] and found["transfer"]["state"] == "completed")

    wait_for(completed, "the historical transfer to complete", 60)
    for member in (pec, omis):
        member.stop()
    (root / CHAIN_FILE).write_text(json.dumps({"portalPort": int(portal.url.rsplit(":", 1)[1]), "assetId": asset_id}))
    return portal, pec, omis, asset_id


def reuse(root: Path) -> tuple[Portal, Member, Member, str]:
    """The chain an earlier run built in ``--keep-dir``: its portal started again on the same port."""
    chain = json.loads((root / CHAIN_FILE).read_text())
    portal = Portal(root / "portal", chain["portalPort"])
    portal.start()
    pec = Member("pec", root / "pec", 0, org="pec", base_iri="https://pec.example")
    omis = Member("omis", root / "omis", 0, org="omis", base_iri="https://omis.example")
    return portal, pec, omis, str(chain["assetId"])


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of one run, and the CPU seconds (user + system) the command's process used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, timeout=120, cwd=tempfile.gettempdir())  # no checkout on sys.path by accident
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(command: list[str], runs: int, variants: dict[str, dict[str, str]]
            ) -> dict[str, list[tuple[float, float]]]:
    """``runs`` timings of ``command`` under each environment, taken in turn, after one warm-up each."""
    for env in variants.values():
        timed(command, env)
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, env in variants.items():
            found[name].append(timed(command, env))
    return found


def figures(runs: list[tuple[float, float]]) -> dict[str, float]:
    wall = [w for w, _ in runs]
    return {"min": min(wall), "median": statistics.median(wall), "max": max(wall),
            "cpuMedian": statistics.median(c for _, c in runs)}


def _pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--vs", type=Path, help="also time the code in this directory (PYTHONPATH), run by run")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for this side's commands")
    parser.add_argument("--vs-env", action="append", default=[], help="KEY=VALUE for the --vs side's commands")
    parser.add_argument("--only", help="comma-separated command names to time (default: all)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep-dir", type=Path, help="build the chain here and keep it, or use the one an earlier "
                                                      "run kept there (default: a temporary dir)")
    args = parser.parse_args()
    root = args.keep_dir or Path(tempfile.mkdtemp(prefix="bench-cli-"))
    base = {**os.environ, "COLUMNS": "160"}
    base.pop("PYTHONPATH", None)
    variants = {"this": {**base, **_pairs(args.env)}}
    if args.vs:
        variants["vs"] = {**base, "PYTHONPATH": str(args.vs.resolve()), **_pairs(args.vs_env)}
    portal, pec, omis, asset_id = reuse(root) if (root / CHAIN_FILE).exists() else build(root)
    results: dict[str, Any] = {"runs": args.runs, "cpus": os.cpu_count(), "vs": str(args.vs) if args.vs else None,
                               "env": args.env, "vsEnv": args.vs_env, "commands": {}}
    try:
        wanted: Callable[[str], bool] = (lambda name: True) if not args.only else (
            lambda name: name in args.only.split(","))
        for name, command in commands(pec.data_dir, omis.data_dir, portal.data_dir, asset_id).items():
            if not wanted(name):
                continue
            found = {variant: figures(runs) for variant, runs in measure(command, args.runs, variants).items()}
            results["commands"][name] = found
            row = "  ".join(f"{variant} {f['median']:5.2f} s (min {f['min']:.2f}, max {f['max']:.2f}; "
                            f"cpu {f['cpuMedian']:.2f} s)" for variant, f in found.items())
            print(f"{name:<32} {row}", flush=True)
    finally:
        portal.stop()
        if args.keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
