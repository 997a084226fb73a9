"""What the benchmarks watch while they run: a consumer's own event stream (``Arrivals``), and the resident memory
and CPU time of the AAdSys processes (``ResourceSampler``, read from ``/proc``, Linux only)."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from aadsys.processes import AadsysProcess, proc_status_bytes

MB = 1024 * 1024


class Arrivals(threading.Thread):
    """Follows the consumer's own event stream and notes when each record of the provider arrives."""

    def __init__(self, member: AadsysProcess, asset_type: str, provider: str) -> None:
        super().__init__(daemon=True, name=f"events of {member.name}")
        self.member, self.asset_type, self.provider = member, asset_type, provider
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.listening = threading.Event()
        self.error: BaseException | None = None
        self.seen: set[str] = set()
        self.duplicates = 0
        self._client = httpx.Client(base_url=member.url, headers={"X-API-Key": member.write_key},
                                    timeout=httpx.Timeout(10.0, read=None))

    def run(self) -> None:
        try:
            with self._client.stream("GET", "/api/v1/events", params={"assetType": self.asset_type}) as response:
                response.raise_for_status()
                self.listening.set()
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("provider") == self.provider:
                            self.events.put((time.perf_counter(), event))
        except BaseException as exc:  # ends the thread; the runner sees it as lost runs and the error
            self.error = exc
            self.listening.set()

    def next_for(self, key: str, timeout: float) -> tuple[float, dict[str, Any]] | None:
        """The arrival of ``key`` (time, event), or None if it did not come in time. Any record seen a second
        time on the way counts in ``duplicates``."""
        deadline = time.perf_counter() + timeout
        while (left := deadline - time.perf_counter()) > 0:
            try:
                at, event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if self._first_time(event) and event["key"] == key:
                return at, event
        return None

    def collect(self, timeout: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        """Every first arrival queued now (waiting up to ``timeout`` for one if none is), as (time, event);
        records seen before count in ``duplicates``."""
        taken = []
        try:
            taken.append(self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait())
            while True:
                taken.append(self.events.get_nowait())
        except queue.Empty:
            pass
        return [(at, event) for at, event in taken if self._first_time(event)]

    def drain(self) -> None:
        """Take what came after the last run, to count duplicates among it."""
        self.collect()

    def _first_time(self, event: dict[str, Any]) -> bool:
        if event["key"] in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(event["key"])
        return True

    def close(self) -> None:
        self._client.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process and its descendants have used so far: the running ones (the worker
    processes of ``aadsys serve --workers N``) and those it waited for. The process itself must still run."""
    stats = _proc_stats()
    if pid not in stats:
        raise ProcessLookupError(f"no process {pid}")
    children: dict[int, list[int]] = {}
    for other, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(other)  # ppid: field 4
    ticks, todo = 0, [pid]
    while todo:
        current = todo.pop()
        ticks += sum(int(f) for f in stats[current][11:15])  # utime, stime, cutime, cstime: fields 14 to 17
        todo += children.get(current, [])
    return ticks / os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, list[str]]:
    """Every process's ``/proc/<pid>/stat`` fields after the command name (the state is the first)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # ended meanwhile
                continue
    return stats


class ResourceSampler(threading.Thread):
    """Samples the resident set (VmRSS) of some processes every ``interval`` seconds while it runs, and their CPU
    time at start and stop. ``stop()`` gives per process, in MB: the RSS when sampling began, the highest sample,
    and the kernel's lifetime peak (VmHWM) at the end; and the CPU seconds used in between."""

    def __init__(self, pids: Mapping[str, int], interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="resource sampler")
        self.pids, self.interval = dict(pids), interval
        self.baseline = {name: (proc_status_bytes(pid, "VmRSS") // 1024) for name, pid in self.pids.items()}
        self.peak = dict(self.baseline)
        self.cpu_start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.samples = 0
        self._halt = threading.Event()
        self._final: dict[str, dict[str, float]] | None = None

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            try:
                self.peak[name] = max(self.peak[name], (proc_status_bytes(pid, "VmRSS") // 1024))
            except (OSError, LookupError):  # the process ended: its last samples stand
                continue
        self.samples += 1

    def stop(self) -> dict[str, dict[str, float]]:
        """Stop sampling (one last sample first) and return the report."""
        if self._final is None:
            self._halt.set()
            if self.is_alive():
                self.join()
            self._sample()
            self._final = {}
            for name, pid in self.pids.items():
                figures = {"baseline_mb": round(self.baseline[name] / 1024, 1),
                           "peak_mb": round(self.peak[name] / 1024, 1)}
                try:
                    figures["hwm_mb"] = round((proc_status_bytes(pid, "VmHWM") // 1024) / 1024, 1)
                    figures["cpu_s"] = round(cpu_seconds(pid) - self.cpu_start[name], 2)
                except (OSError, LookupError):
                    pass
                self._final[name] = figures
        return self._final
