"""Ingest benchmark: Sales Orders per second over HTTP into one AAdSys, and render+validate time.

Starts a real gateway (uvicorn, separate process, SQLite WAL in a temp dir) on a loopback port,
then posts N orders of 2 KB and of 100 KB with C concurrent clients. Bounded in count and time.

    .venv/bin/python bench/ingest.py [--count 400] [--concurrency 4] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aadsys.samples import sales_order  # noqa: E402
from aas_models import Owner, render_instance  # noqa: E402


def render_validate_ms(target_bytes: int, runs: int = 200) -> tuple[float, int]:
    record = orjson.dumps(sales_order("SO-BENCH", target_bytes=target_bytes))
    owner = Owner(org="pec", base_iri="https://pec.example")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        render_instance("sales-order", record, owner)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(record)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _post_all(url: str, key: str, bodies: list[bytes], concurrency: int, deadline: float) -> tuple[int, float]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    done = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key, "Content-Type": "application/json"},
                                 limits=limits, timeout=60) as client:
        async def worker() -> None:
            nonlocal done
            while not queue.empty() and time.monotonic() < deadline:
                body = queue.get_nowait()
                r = await client.post("/api/v1/asset-types/sales-order/instances", content=body)
                if r.status_code != 201:
                    raise SystemExit(f"unexpected {r.status_code}: {r.text[:300]}")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400, help="orders per size (default 400)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent HTTP clients (default 4)")
    parser.add_argument("--seconds", type=float, default=60, help="time budget per size (default 60)")
    args = parser.parse_args()

    for size in (2_000, 100_000):
        median, actual = render_validate_ms(size)
        print(f"render+validate {actual / 1000:6.1f} kB Sales Order: median {median:.2f} ms (200 runs)")

    with tempfile.TemporaryDirectory(prefix="aadsys-bench-") as tmp:
        data = Path(tmp) / "pec"
        python = sys.executable
        env = {**os.environ, "AADSYS_DATA_DIR": str(data)}
        subprocess.run([python, "-m", "aadsys", "init", "--org", "pec", "--base-iri", "https://pec.example"],
                       check=True, env=env, capture_output=True)
        key = subprocess.run([python, "-m", "aadsys", "keys", "create", "--name", "bench", "--scope", "write"],
                             check=True, env=env, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        port = _free_port()
        server = subprocess.Popen([python, "-m", "aadsys", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for size, label in ((2_000, "2 KB"), (100_000, "100 KB")):
                bodies = [orjson.dumps(sales_order(f"SO-{label[:-3]}-{n}", target_bytes=size, seed=n))
                          for n in range(args.count)]
                deadline = time.monotonic() + args.seconds
                done, elapsed = asyncio.run(_post_all(url, key, bodies, args.concurrency, deadline))
                print(f"ingest {label:>6} Sales Orders over HTTP: {done / elapsed:7.1f} orders/s "
                      f"({done} orders in {elapsed:.2f} s, {args.concurrency} clients, SQLite WAL)")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
