"""Figures the benchmarks share: latency summaries, the machine they ran on, the JSON they write."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """mean, p50, p95, p99 and max in ms (nearest-rank percentiles); None for no values."""
    if not values:
        return dict.fromkeys(("mean", "p50", "p95", "p99", "max"))
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))]

    return {"mean": round(statistics.fmean(ordered), 2), "p50": round(rank(50), 2), "p95": round(rank(95), 2),
            "p99": round(rank(99), 2), "max": round(ordered[-1], 2)}


def machine(database_urls: Sequence[str | None]) -> dict[str, Any]:
    """Cores, Python, platform and the database kind(s) the AAdSys ran on."""
    databases = sorted({"postgresql" if url and url.startswith("postgresql") else "sqlite" for url in database_urls})
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "database": "+".join(databases)}


def write_json(report: dict[str, Any], path: Path | None, console: Console) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {path}")


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
