"""``aadsys bench render``: render+validate of one Sales Order, against the basyx and aas-core3.0 paths
(DESIGN §3): the median of our fast path (pydantic validation + AAS JSON text), of basyx reading and writing the
same environment, and of aas-core3.0 parsing and verifying it."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from aadsys.benchmark._figures import machine, write_json
from aadsys.samples import sales_order
from aas_models import Owner, render_instance

OWNER = Owner("pec", "https://pec.example")
SIZES = (2_000, 100_000)


def median_ms(job: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def _aas_core_check(env_json: bytes) -> None:
    import aas_core3.jsonization as jsonization
    import aas_core3.verification as verification

    env = jsonization.environment_from_jsonable(orjson.loads(env_json))
    errors = list(verification.verify(env))
    if errors:
        raise ValueError(f"aas-core3.0 finds {len(errors)} errors in our own rendering: {errors[:3]}")


def _basyx_round_trip(aas_json: bytes) -> None:
    from basyx.aas.adapter.json import object_store_to_json, read_aas_json_file

    object_store_to_json(read_aas_json_file(io.StringIO(aas_json.decode())))


def run(*, runs: int, json_path: Path | None, console: Console) -> int:
    rows: list[dict[str, Any]] = []
    for target in SIZES:
        business = orjson.dumps(sales_order("SO-BENCH", target_bytes=target))
        aas_json = render_instance("sales-order", business, OWNER).aas_json
        slow_runs = max(5, runs // 20)
        rows.append({"business_bytes": len(business), "aas_bytes": len(aas_json),
                     "render_validate_ms": median_ms(partial(render_instance, "sales-order", business, OWNER), runs),
                     "basyx_read_write_ms": median_ms(partial(_basyx_round_trip, aas_json), slow_runs),
                     "aas_core3_parse_verify_ms": median_ms(partial(_aas_core_check, aas_json), slow_runs)})
    table = Table("business JSON", "AAS JSON", "render+validate", "basyx read+write", "aas-core3 parse+verify",
                  title=f"one Sales Order, median of {runs} runs (basyx and aas-core3: {max(5, runs // 20)})")
    for row in rows:
        table.add_row(f"{row['business_bytes']:,} B", f"{row['aas_bytes']:,} B", f"{row['render_validate_ms']} ms",
                      f"{row['basyx_read_write_ms']} ms", f"{row['aas_core3_parse_verify_ms']} ms")
    console.print(table)
    write_json({"benchmark": "render", "machine": machine([]), "runs": runs, "rows": rows}, json_path, console)
    return 0
