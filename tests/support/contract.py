"""Run schemathesis (``--checks all``) against a live server's OpenAPI document, as a user would from a shell.

The CLI runs in a subprocess with a fixed seed and a bounded budget per operation; its JSON report is the
result. A test asserts on the report, so a failure message names each failing check and operation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 20261123
TIME_LIMIT_S = 600


@dataclass
class ContractReport:
    generated: int
    operations: int
    failures: list[dict[str, Any]]
    errors: list[Any]
    warnings: dict[str, list[Any]]
    running_time: float
    output: str

    def summary(self) -> str:
        found = ", ".join(f"{f['code']} {f['title']}: {f['count']} ({'; '.join(f['operations'][:6])})"
                          for f in self.failures) or "0 failures"
        return (f"{self.generated} generated cases over {self.operations} operations in {self.running_time:.1f} s; "
                f"{found}; {len(self.errors)} errors")

    def raised_warnings(self) -> dict[str, list[Any]]:
        return {name: items for name, items in self.warnings.items() if items}


def run_schemathesis(openapi_url: str, headers: dict[str, str], *, config: Path, examples: int, workdir: Path,
                     known: dict[str, list[str]] | None = None, paths: str | None = None) -> ContractReport:
    """``schemathesis run --checks all`` on every operation, ``examples`` cases per operation and phase.

    ``config`` is the server's ``schemathesis.toml``: which statuses a check accepts where a schema cannot say
    more, each with its reason; both load the hooks in ``tests/support/schemathesis_hooks.py``.
    ``known`` maps parameters (``path.aasIdentifier``) to values the server holds: half the cases use one, so
    that the operations are reached beyond their 404s. ``paths`` (a regular expression) limits the run to the
    operations whose path matches, where another run covers the rest of the same document.
    """
    report = workdir / "schemathesis.json"
    config = _with_known_values(config, known or {}, workdir)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", openapi_url,
               "--checks", "all", "--max-examples", str(examples), "--seed", str(SEED), "--workers", "1",
               "--report", "json", "--report-json-path", str(report), "--output-truncate", "true"]
    if paths is not None:
        command += ["--include-path-regex", paths]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "NO_COLOR": "1"}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIME_LIMIT_S,
                          stdin=subprocess.DEVNULL)
    if not report.exists():
        raise AssertionError(f"schemathesis wrote no report (exit {done.returncode}):\n{done.stdout[-4000:]}"
                             f"\n{done.stderr[-4000:]}")
    data = json.loads(report.read_text())
    return ContractReport(generated=data["test_cases"]["generated"], operations=data["operations"]["tested"],
                          failures=data["failures"], errors=data["errors"], warnings=data["warnings"],
                          running_time=data["running_time"], output=done.stdout[-20000:])


def _with_known_values(config: Path, known: dict[str, list[str]], workdir: Path) -> Path:
    if not known:
        return config
    lines = [config.read_text()]
    for index, values in enumerate(known.values()):
        lines += [f"[dictionaries.known{index}]", f"values = {json.dumps(values)}"]
    lines.append("[parameters]")
    lines += [f'"{name}" = {{ dictionary = "known{index}", probability = 0.5 }}' for index, name in enumerate(known)]
    written = workdir / "schemathesis.toml"
    written.write_text("\n".join(lines) + "\n")
    return written
