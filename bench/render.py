"""Render+validate benchmark of one Sales Order, against the basyx and aas-core3.0 paths (DESIGN §3).

    .venv/bin/python bench/render.py [--runs 300]

Prints median milliseconds for: our fast path (pydantic validation + AAS JSON text), basyx reading
and writing the same environment, and aas-core3.0 parsing and verifying it.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aas_core3.jsonization as jsonization
import aas_core3.verification as verification
import orjson
from basyx.aas.adapter.json import object_store_to_json, read_aas_json_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aadsys.samples import sales_order  # noqa: E402
from aas_models import Owner, render_instance  # noqa: E402

OWNER = Owner("pec", "https://pec.example")


def median_ms(job: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def aas_core_check(env_json: bytes) -> None:
    env = jsonization.environment_from_jsonable(orjson.loads(env_json))
    errors = list(verification.verify(env))
    assert not errors, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    print(f"{'business JSON':>14} {'AAS JSON':>9} {'render+validate':>16} {'basyx read+write':>17} "
          f"{'aas-core3 parse+verify':>23}")
    for target in (2_000, 100_000):
        business = orjson.dumps(sales_order("SO-BENCH", target_bytes=target))
        aas_json = render_instance("sales-order", business, OWNER).aas_json
        ours = median_ms(lambda b=business: render_instance("sales-order", b, OWNER), args.runs)
        slow_runs = max(5, args.runs // 20)
        basyx = median_ms(lambda a=aas_json: object_store_to_json(read_aas_json_file(io.StringIO(a.decode()))),
                          slow_runs)
        core = median_ms(lambda a=aas_json: aas_core_check(a), slow_runs)
        print(f"{len(business):>12} B {len(aas_json):>7} B {ours:>13.2f} ms {basyx:>14.1f} ms {core:>20.1f} ms")
    print(json.dumps({"render_validate_ms_100kb": round(ours, 2)}))


if __name__ == "__main__":
    main()
