"""``aadsys bench reads``: requests per second and latency of the read API of one AAdSys, measured with wrk.

Part 1: N stored Sales Orders (default 1,000) in a fresh data dir; a real ``aadsys serve`` (uvicorn, separate
process, SQLite WAL) on a free loopback port; wrk (one thread, ``--latency``, a read key in ``X-API-Key``) at 8
and at 32 connections drives each read of the AAS API (Part 2) and of the business API for ``--seconds``: one
shell, one submodel, its ``$value``, one element by idShortPath and its ``$value``, one business record (each of
the instance in the middle of the set), the first page (limit 100) of each list, of the shell descriptors
(registry), and a discovery lookup by order number.

Scale: the first page and a middle page of the lists, and the lookup, at several database sizes (``--scale``),
each measured with wrk for ``--scale-seconds`` at 1 connection (the latency of one read) and at 8 (under load).
One data dir is filled to each size in turn (the next size only adds what is missing), rendering in worker
processes and storing in this one, then the server is restarted.

Records are stored as ``aadsys.benchmark.preload`` stores them (``render_instance``, then ``insert_instance`` after
``take_ingest_lock``, a thousand to a transaction, keys ``HI-<tag>-<n>``), with createdAt one second apart in the
past. Any non-2xx answer or socket error counted by wrk makes the script exit 1 at the end.

    aadsys bench reads [--count 1000] [--seconds 10] [--connections 8,32] [--scale 1000,100000,1000000]
                       [--scale-seconds 5] [--scale-connections 1,8] [--rounds 1] [--json FILE] [--keep-dir DIR]

It needs wrk (the Debian package ``wrk``) on the PATH or at /usr/bin/wrk.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import multiprocessing
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aadsys.benchmark._figures import machine, write_json
from aadsys.benchmark._processes import BenchError
from aadsys.benchmark.records import order
from aadsys.config import load_settings
from aadsys.core.db import Database
from aadsys.core.instances import insert_instance, take_ingest_lock
from aadsys.processes import AadsysProcess, ProcessError
from aas_models import Owner, RenderedInstance, render_instance

ORG, BASE_IRI = "pec", "https://pec.example"
ASSET_TYPE = "sales-order"
TAG = "r"  # keys HI-r-0000000, HI-r-0000001 … as preload names them
BATCH = 1000  # records per transaction, as preload stores them
WORKERS = 2  # render processes while this one stores
AHEAD = 2 * WORKERS  # rendered batches waiting at most (bounds the memory the workers can fill)
PAGE = 100
SCALE_CONNECTIONS = "1,8"  # one client: the latency of a read; eight: under load
WRK_TIMEOUT = "30s"  # a slow answer counts as a latency, not as a socket timeout
V1 = f"/api/v1/asset-types/{ASSET_TYPE}/instances"

# (read, path template) of part 1; {shell} and {submodel} are base64url ids, {key} the business key. The read's name
# is its path without the prefix, /api/v3.0 for the AAS API (Part 2) or V1 for the business API.
READS = (
    ("/shells/{id}", "/api/v3.0/shells/{shell}"),
    ("/submodels/{id}", "/api/v3.0/submodels/{submodel}"),
    ("/submodels/{id}/$value", "/api/v3.0/submodels/{submodel}/$value"),
    (f"/shells?limit={PAGE}", f"/api/v3.0/shells?limit={PAGE}"),
    (f"/submodels?limit={PAGE}", f"/api/v3.0/submodels?limit={PAGE}"),
    ("v1 /instances/{key}", V1 + "/{key}"),
    (f"v1 /instances?limit={PAGE}", f"{V1}?limit={PAGE}"),
    ("/submodels/{id}/submodel-elements/total", "/api/v3.0/submodels/{submodel}/submodel-elements/total"),
    ("/submodels/{id}/submodel-elements/total/$value", "/api/v3.0/submodels/{submodel}/submodel-elements/total/$value"),
    (f"/shell-descriptors?limit={PAGE}", f"/api/v3.0/shell-descriptors?limit={PAGE}"),
    ("/lookup/shells?assetIds={orderId}", "/api/v3.0/lookup/shells?assetIds={asset_id}"),
)
SHELLS, SUBMODELS, BUSINESS, DESCRIPTORS, LOOKUP = READS[3][0], READS[4][0], READS[6][0], READS[9][0], READS[10][0]
LISTS = (SHELLS, SUBMODELS, BUSINESS, DESCRIPTORS)
LEGEND = f"paths under /api/v3.0 (AAS API, Part 2); v1: {V1} (business API)"


Case = tuple[str, str, str, int]  # a read, its page (scale part), its path, wrk's connections


class BenchFailure(SystemExit):
    """The benchmark cannot go on; the message says why (exit code 1)."""


# -- the instances: names, ids and createdAt of instance n (0-based; its row id is n + 1) -----------------------
def key_of(n: int) -> str:
    return f"HI-{TAG}-{n:07d}"


def shell_id(key: str) -> str:
    return f"{BASE_IRI}/ids/aas/{ASSET_TYPE}/{key}"


def submodel_id(key: str) -> str:
    return f"{BASE_IRI}/ids/sm/{ASSET_TYPE}/{key}/SalesOrder"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def order_asset_id(key: str) -> str:
    """The discovery query value that finds the Sales Order ``key``: its SpecificAssetId, base64url JSON."""
    return b64(json.dumps({"name": "orderId", "value": key}))


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclasses.dataclass
class Store:
    """One data dir being filled: instance n is created at ``first + n`` seconds."""

    data_dir: Path
    first: datetime
    count: int = 0

    def created_at(self, n: int) -> datetime:
        return self.first + timedelta(seconds=n)

    def fill_to(self, total: int, console: Console) -> dict[str, Any] | None:
        """Store instances ``count`` … ``total - 1``: rendered by ``WORKERS`` processes, stored here in order (so
        row ids follow n), ``BATCH`` to a transaction. The load's figures, or None if nothing was missing."""
        added = total - self.count
        if added <= 0:
            return None
        batches = iter(range(self.count, total, BATCH))
        began = time.perf_counter()
        # fork before this process holds a database connection or a progress thread
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            db = Database(load_settings(data_dir=self.data_dir).resolved_database_url)
            pending: deque[Any] = deque()

            def submit() -> None:
                start = next(batches, None)
                if start is not None:
                    pending.append(pool.apply_async(render_batch, (start, min(start + BATCH, total), self.first)))

            try:
                with _progress(console) as progress:
                    task = progress.add_task(f"storing {self.count:,} → {total:,}", total=added, rate="")
                    for _ in range(AHEAD):
                        submit()
                    while pending:
                        rendered = pending.popleft().get()
                        submit()
                        with db.write_session() as session:
                            take_ingest_lock(db, session)
                            for created_at, instance in rendered:
                                insert_instance(session, instance, created_at=created_at, with_submodels=True)
                            session.commit()
                        self.count += len(rendered)
                        done = added - (total - self.count)
                        progress.update(task, advance=len(rendered),
                                        rate=f"{done / (time.perf_counter() - began):,.0f}/s")
            finally:
                db.dispose()
        seconds = time.perf_counter() - began
        load = {"to": total, "added": added, "seconds": round(seconds, 2), "rate_per_s": round(added / seconds, 1)}
        console.print(f"stored {added:,} Sales Orders in {seconds:.1f} s: {load['rate_per_s']:,.0f} per s "
                      f"({WORKERS} render processes, {BATCH} per transaction)")
        return load


def render_batch(start: int, stop: int, first: datetime) -> list[tuple[datetime, RenderedInstance]]:
    """In a worker: instances ``start`` … ``stop - 1`` as preload renders them (a fresh 2 KB Sales Order each)."""
    owner = Owner(ORG, BASE_IRI)
    out = []
    for n in range(start, stop):
        created_at = first + timedelta(seconds=n)  # Store.created_at
        instance = render_instance(ASSET_TYPE, order(key_of(n), random.Random(n), ordered_at=created_at), owner)
        out.append((created_at, _computed(instance)))
    return out


def _computed(instance: RenderedInstance) -> RenderedInstance:
    """The instance with what it computes on first use (business JSON, ValueOnly JSON, file digests …) computed
    here, in the worker, so that the parent only stores; without its validated model, which storing does not read
    once those are computed, and which takes longer to unpickle than all the rest."""
    computed = {name: getattr(instance, name) for name, attribute in vars(type(instance)).items()
                if isinstance(attribute, functools.cached_property)}
    light = dataclasses.replace(instance, model=None)  # type: ignore[arg-type]  # its fields, computed above, stand in
    light.__dict__.update(computed)
    return light


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:>28}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]:>9}"), TimeElapsedColumn(), console=console)


# -- the paths read ----------------------------------------------------------------------------------------------
def middle_cursor(kind: str, m: int) -> str:
    """The Part 2 cursor of the page that starts at the instance with row id ``m`` (internal to the server, but
    stable for this benchmark): ``aadsys.core.aas_repository`` pages by row id, and in a fresh database instance
    rows get ids 1 … N in the order stored. For /shells the page starting at id M is ``i{M}:``; for /submodels the
    page starting at the submodel first stored by id M is ``i{M}:{submodel id}``, base64url without padding."""
    key = key_of(m - 1)
    return b64(f"i{m}:" if kind == "shells" else f"i{m}:{submodel_id(key)}")


def part1_paths(middle_key: str) -> list[tuple[str, str]]:
    ids = {"shell": b64(shell_id(middle_key)), "submodel": b64(submodel_id(middle_key)), "key": middle_key,
           "asset_id": order_asset_id(middle_key)}
    return [(name, template.format(**ids)) for name, template in READS]


def scale_paths(store: Store, size: int) -> list[tuple[str, str, str, str]]:
    """(read, page, path, first result id) of the first and the middle page of each list at ``size``, and of the
    lookup of the middle instance's order number (which finds that one shell)."""
    n = size // 2  # the middle instance, row id n + 1
    middle_from = quote(iso_z(store.created_at(n)))
    key = key_of(n)
    return [
        (SHELLS, "first", f"/api/v3.0/shells?limit={PAGE}", ""),
        (SHELLS, "middle", f"/api/v3.0/shells?limit={PAGE}&cursor={middle_cursor('shells', n + 1)}", shell_id(key)),
        (SUBMODELS, "first", f"/api/v3.0/submodels?limit={PAGE}", ""),
        (SUBMODELS, "middle", f"/api/v3.0/submodels?limit={PAGE}&cursor={middle_cursor('submodels', n + 1)}",
         submodel_id(key)),
        (BUSINESS, "first", f"{V1}?limit={PAGE}", ""),
        (BUSINESS, "middle", f"{V1}?limit={PAGE}&from={middle_from}", key),
        (DESCRIPTORS, "first", f"/api/v3.0/shell-descriptors?limit={PAGE}", ""),
        (DESCRIPTORS, "middle", f"/api/v3.0/shell-descriptors?limit={PAGE}&cursor={middle_cursor('shells', n + 1)}",
         shell_id(key)),
        (LOOKUP, "one", f"/api/v3.0/lookup/shells?assetIds={order_asset_id(key)}", shell_id(key)),
    ]


def check(api: httpx.Client, read: str, path: str, first_id: str = "") -> None:
    """One GET must answer 200; a middle page must hold a full page starting where it was aimed, a lookup the one
    shell it aims at."""
    answer = api.get(path)
    if answer.status_code != 200:
        raise BenchFailure(f"{read}: GET {path} answered {answer.status_code}, not 200: {answer.text[:300]}")
    if not first_id:
        return
    body = answer.json()
    results, field = (body["items"], "key") if "items" in body else (body["result"], "id")  # v1 or Part 2
    got = (results[0] if isinstance(results[0], str) else results[0].get(field)) if results else None
    wanted = 1 if read.startswith(LOOKUP) else PAGE
    if len(results) != wanted or got != first_id:
        raise BenchFailure(f"{read}: GET {path} gave {len(results)} results starting at {got}, not {wanted} starting "
                           f"at {first_id}: the cursor, from= or asset id no longer finds its instance")


# -- wrk -----------------------------------------------------------------------------------------------------------
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk_path() -> str:
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if found is None:
        raise BenchFailure("wrk not found: install the Debian package 'wrk' (make bench does this through "
                           "scripts/ensure-system-packages.sh)")
    return found


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # exits 1 after the usage
    return (done.stdout or done.stderr).splitlines()[0].split(" [")[0] if (done.stdout or done.stderr) else "?"


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/sec, p50 and p99 in ms, requests, non-2xx answers and socket errors of wrk ``--latency`` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    latency = {p: float(value) * _UNITS_MS[unit] for p, value, unit in _LATENCY.findall(text)}
    if rps is None or set(latency) != {"50", "99"}:
        raise ValueError(f"not wrk --latency output:\n{text}")
    requests = re.search(r"^\s+(\d+) requests in", text, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = _SOCKET.search(text)
    errors = dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True)) \
        if sockets else {}
    return {"rps": float(rps.group(1)), "p50_ms": round(latency["50"], 3), "p99_ms": round(latency["99"], 3),
            "requests": int(requests.group(1)) if requests else None,
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0, "socket_errors": {k: v for k, v in errors.items() if v}}


def run_wrk(wrk: str, url: str, key: str, connections: int, seconds: int) -> dict[str, Any]:
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", WRK_TIMEOUT,
               "-H", f"X-API-Key: {key}", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchFailure(f"wrk failed (exit {done.returncode}) on {url}:\n{done.stderr or done.stdout}")
    try:
        return parse_wrk(done.stdout)
    except ValueError as exc:
        raise BenchFailure(str(exc)) from None


def problem(figures: dict[str, Any]) -> str | None:
    found = []
    if figures["non_2xx"]:
        found.append(f"{figures['non_2xx']} non-2xx answers")
    if figures["socket_errors"]:
        found.append("socket errors " + ", ".join(f"{k} {v}" for k, v in figures["socket_errors"].items()))
    return "; ".join(found) or None


# -- the server ----------------------------------------------------------------------------------------------------
def initialise(data_dir: Path) -> str:
    """``aadsys init`` a fresh data dir and make a read key; the key."""
    member = AadsysProcess(data_dir, org=ORG, base_iri=BASE_IRI)
    member.init()
    return member.create_key("bench", "read")


@contextmanager
def serving(data_dir: Path, key: str, console: Console) -> Iterator[AadsysProcess]:
    """``aadsys serve`` on a free loopback port until the block ends."""
    member = AadsysProcess(data_dir, org=ORG, base_iri=BASE_IRI, name="reads")
    member.key = key
    member.start(wait=False)
    with console.status(f"starting aadsys serve on {member.url} …"):
        member.wait_ready()
    try:
        yield member
    except (ProcessError, BenchFailure):
        console.print(f"[red]the server's log ({member.log_path}) ends:[/red]")
        console.print(member.log_tail(30), markup=False, highlight=False, soft_wrap=True)
        raise
    finally:
        member.stop()


# -- the two parts ---------------------------------------------------------------------------------------------------
def interleaved(cases: list[Case], measure: Callable[[Case], dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """``measure`` of each case, ``rounds`` times over, the cases interleaved in each round (this machine's speed
    drifts, so reads compared must share the same minutes). Per case: the figures of the round with the median
    rate, every round's rate (``rounds``), and every problem met in any round."""
    runs: list[list[dict[str, Any]]] = [[] for _ in cases]
    for _ in range(rounds):
        for index, case in enumerate(cases):
            runs[index].append(measure(case))
    out = []
    for figures in runs:
        median = sorted(figures, key=lambda f: f["rps"])[len(figures) // 2]
        found = "; ".join(dict.fromkeys(p for p in map(problem, figures) if p)) or None
        out.append({**median, "rounds": [f["rps"] for f in figures], "problem": found})
    return out


def part1(root: Path, count: int, seconds: int, connections: list[int], rounds: int, wrk: str,
          console: Console) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    console.rule(f"reads of one of {count:,} Sales Orders and of first pages")
    data_dir = root / "reads"
    key = initialise(data_dir)
    load = Store(data_dir, _past(count)).fill_to(count, console)
    paths = part1_paths(key_of(count // 2))
    out = []
    with serving(data_dir, key, console) as server, server.api() as api:
        for read, path in paths:
            check(api, read, path)
        cases = [(read, "", path, c) for c in connections for read, path in paths]

        def measure(case: Case) -> dict[str, Any]:
            read, _, path, c = case
            with console.status(f"wrk -c{c} -d{seconds}s {read} …"):
                return run_wrk(wrk, server.url + path, key, c, seconds)

        for (read, _, path, c), figures in zip(cases, interleaved(cases, measure, rounds), strict=True):
            out.append({"read": read, "path": path, "connections": c, **figures})
    return out, load


def scale(root: Path, sizes: list[int], seconds: int, clients: list[int], rounds: int, wrk: str,
          console: Console) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    data_dir = root / "scale"
    key = initialise(data_dir)
    store = Store(data_dir, _past(max(sizes)))
    out, loads = [], []
    for size in sizes:
        console.rule(f"first and middle pages at {size:,} Sales Orders")
        load = store.fill_to(size, console)
        if load:
            loads.append(load)
        paths = scale_paths(store, size)
        with serving(data_dir, key, console) as server, server.api() as api:
            for read, page, path, first_id in paths:
                check(api, f"{read} ({page}, {size:,})", path, first_id)
            cases = [(read, page, path, c) for read, page, path, _ in paths for c in clients]

            def measure(case: Case, size: int = size, server: AadsysProcess = server) -> dict[str, Any]:
                read, page, path, c = case
                with console.status(f"wrk -c{c} -d{seconds}s {read} {page} page at {size:,} …"):
                    return run_wrk(wrk, server.url + path, key, c, seconds)

            for (read, page, path, c), figures in zip(cases, interleaved(cases, measure, rounds), strict=True):
                out.append({"size": size, "read": read, "page": page, "path": path, "connections": c, **figures})
    return out, loads


def _past(count: int) -> datetime:
    """createdAt of instance 0: ``count`` seconds before a day ago, to the second."""
    return (datetime.now(UTC) - timedelta(days=1, seconds=count)).replace(microsecond=0)


# -- output ----------------------------------------------------------------------------------------------------------
def reads_table(report: dict[str, Any]) -> Table:
    m, settings = report["machine"], report["settings"]
    out = Table("read", "connections", "req/s", "p50 ms", "p99 ms", "errors",
                title=f"reads of one of {settings['count']:,} Sales Orders (wrk -t1, {settings['seconds']} s each)",
                caption=f"{LEGEND} · {m['cores']} cores, Python {m['python']}, {m['database']}, {m['wrk']}")
    for r in report["reads"]:
        out.add_row(r["read"], str(r["connections"]), f"{r['rps']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                    f"[red]{r['problem']}[/red]" if r["problem"] else "")
    return out


def scale_table(report: dict[str, Any]) -> Table:
    out = Table("size", "read", "page", "clients", "p50 ms", "p99 ms", "req/s", "errors",
                title=f"first and middle pages by database size (wrk -t1, "
                      f"{report['settings']['scale_seconds']} s each)",
                caption="middle page: the one starting at instance N/2 (cursor for Part 2, from= for v1)")
    for r in report["scale"]:
        out.add_row(f"{r['size']:,}", r["read"], r["page"], str(r["connections"]), f"{r['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    f"{r['rps']:,.0f}", f"[red]{r['problem']}[/red]" if r["problem"] else "")
    return out


def run(*, count: int, seconds: int, connections: list[int], sizes: list[int], scale_seconds: int,
        scale_connections: list[int], rounds: int, json_path: Path | None, keep_dir: Path | None,
        console: Console) -> int:
    """The whole benchmark; 1 when any read answered other than 2xx or wrk counted socket errors."""
    if keep_dir:
        for part in ("reads", "scale"):
            if (keep_dir / part).exists():
                raise BenchError(f"{keep_dir / part} exists: give --keep-dir an empty or new directory")
    wrk = wrk_path()
    began = time.perf_counter()
    root = keep_dir or Path(tempfile.mkdtemp(prefix="aadsys-bench-reads-"))
    try:
        reads, load = part1(root, count, seconds, connections, rounds, wrk, console)
        scaled, loads = scale(root, sizes, scale_seconds, scale_connections, rounds, wrk, console) \
            if sizes else ([], [])
    finally:
        if keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    report = {"settings": {"count": count, "seconds": seconds, "connections": connections,
                           "scale": sizes, "scale_seconds": scale_seconds, "page": PAGE},
              "reads": reads, "scale": scaled, "loads": ([load] if load else []) + loads,
              "machine": {**machine([None]), "wrk": wrk_version(wrk)},
              "seconds": round(time.perf_counter() - began, 1)}
    console.print(reads_table(report))
    if scaled:
        console.print(scale_table(report))
    write_json(report, json_path, console)
    failed = [r for r in reads + scaled if r["problem"]]
    for r in failed:
        where = f"at {r['size']:,}, {r['page']} page" if "size" in r else f"at {r['connections']} connections"
        console.print(f"[red]{r['read']} {where}: {r['problem']} (GET {r['path']})[/red]")
    console.print(f"whole run {report['seconds']:.0f} s")
    return 1 if failed else 0

