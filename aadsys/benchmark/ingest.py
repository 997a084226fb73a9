"""``aadsys bench ingest``: Sales Orders per second over HTTP into one AAdSys (no connector, no partner), at 2 KB and
100 KB, with ``concurrency`` clients; bounded in count and time. Each size is sent twice, fresh orders each time:
one order a POST (every answer must be 201), then ``batch`` orders a POST as a bulk JSON array (every record's
answer must be 201)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from aadsys.benchmark._figures import machine, write_json
from aadsys.benchmark._processes import BenchError
from aadsys.processes import AadsysProcess, ProcessError
from aadsys.samples import sales_order

SIZES = ((2_000, "2 KB"), (100_000, "100 KB"))
BULK_BYTES = 12 * 1024 * 1024  # a bulk body well within the default bulk_max_bytes (16 MiB)


async def _post_all(member: AadsysProcess, bodies: list[bytes], concurrency: int, deadline: float
                    ) -> tuple[int, float]:
    """One record per POST, ``concurrency`` at a time: records stored, seconds."""
    return await _post(member, [(body, 1) for body in bodies], concurrency, deadline, _created, timeout=60)


async def _post_bulk(member: AadsysProcess, batches: list[list[bytes]], concurrency: int, deadline: float
                     ) -> tuple[int, float]:
    """One JSON array of records per POST: records stored, seconds."""
    return await _post(member, [(b"[" + b",".join(batch) + b"]", len(batch)) for batch in batches], concurrency,
                       deadline, _all_created, timeout=300)


def _created(answer: httpx.Response) -> str | None:
    return None if answer.status_code == 201 else f"the AAdSys answered {answer.status_code}: {answer.text[:300]}"


def _all_created(answer: httpx.Response) -> str | None:
    statuses = {item["status"] for item in answer.json()["items"]} if answer.status_code == 200 else set()
    if answer.status_code == 200 and statuses == {201}:
        return None
    return f"the AAdSys answered {answer.status_code} (records {sorted(statuses)}): {answer.text[:300]}"


async def _post(member: AadsysProcess, requests: list[tuple[bytes, int]], concurrency: int, deadline: float,
                refusal: Callable[[httpx.Response], str | None], *, timeout: float) -> tuple[int, float]:
    """POST each (body, records in it) until done or ``deadline``; ``refusal`` names an answer that is not a success."""
    queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    done = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=member.url, limits=limits, timeout=timeout, trust_env=False,
                                 headers={"X-API-Key": member.write_key, "Content-Type": "application/json"}) as client:
        async def worker() -> None:
            nonlocal done
            while not queue.empty() and time.monotonic() < deadline:
                body, records = queue.get_nowait()
                answer = await client.post("/api/v1/asset-types/sales-order/instances", content=body)
                if (why := refusal(answer)) is not None:
                    raise BenchError(why)
                done += records

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - start


def run(*, count: int, concurrency: int, seconds: float, json_path: Path | None, console: Console,
        batch: int = 200) -> int:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="aadsys-bench-ingest-") as tmp:
        member = AadsysProcess(Path(tmp) / "pec", org="pec", base_iri="https://pec.example")
        try:
            with console.status("initialising and starting one AAdSys …"):
                member.init()
                member.create_key("bench", "write")
                member.start()
            for size, label in SIZES:
                bodies = [orjson.dumps(sales_order(f"SO-{label[:-3]}-{n}", target_bytes=size, seed=n))
                          for n in range(count)]
                with console.status(f"posting {count} {label} Sales Orders with {concurrency} clients …"):
                    done, elapsed = asyncio.run(_post_all(member, bodies, concurrency, time.monotonic() + seconds))
                rows.append({"size": label, "mode": "single", "orders": done, "seconds": round(elapsed, 3),
                             "orders_per_second": round(done / elapsed, 1)})
                fresh = [orjson.dumps(sales_order(f"SO-{label[:-3]}-bulk-{n}", target_bytes=size, seed=n))
                         for n in range(count)]
                per_request = max(1, min(batch, BULK_BYTES // max(len(b) for b in fresh)))
                batches = [fresh[i:i + per_request] for i in range(0, count, per_request)]
                with console.status(f"posting {count} {label} Sales Orders, {per_request} a request, with "
                                    f"{concurrency} clients …"):
                    done, elapsed = asyncio.run(_post_bulk(member, batches, concurrency, time.monotonic() + seconds))
                rows.append({"size": label, "mode": f"bulk of {per_request}", "orders": done,
                             "seconds": round(elapsed, 3), "orders_per_second": round(done / elapsed, 1)})
        except ProcessError as exc:
            raise BenchError(str(exc)) from None
        finally:
            member.stop()
    table = Table("record", "POST", "orders", "seconds", "orders/s", title=f"ingest over HTTP, {concurrency} "
                                                                           "clients, SQLite WAL")
    for row in rows:
        table.add_row(row["size"], row["mode"], str(row["orders"]), f"{row['seconds']:.2f}",
                      f"{row['orders_per_second']:.1f}")
    console.print(table)
    write_json({"benchmark": "ingest", "machine": machine([None]), "concurrency": concurrency, "rows": rows},
               json_path, console)
    return 0
