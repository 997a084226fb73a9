"""Debian's Prometheus on loopback, scraping servers under test with their metrics tokens; and exposition parsing.

``running_prometheus(work_dir, targets)`` writes a scrape configuration (one job per ``Target``, every second,
``authorization.credentials_file`` = the target's token file), starts ``/usr/bin/prometheus`` on a free loopback
port and waits until it is ready. ``PrometheusServer.wait_for(promql, expected)`` polls the HTTP API until the
query gives that value. To scrape more servers (the connector's deliveries, refusals), pass more targets.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_server import loopback_get
from tests.support.postgres import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")


def require(binary: Path) -> str:
    """The binary's path; a missing one FAILS the test and names the Debian package (never a skip)."""
    if not binary.exists():
        pytest.fail(f"{binary} is not installed: install the Debian package 'prometheus' (make test does, through "
                    "scripts/ensure-system-packages.sh)")
    return str(binary)


@dataclass(frozen=True)
class Target:
    job: str
    url: str  # the server's base URL, e.g. http://127.0.0.1:40123
    token_file: Path  # its metrics token: Prometheus sends it as a bearer token
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query (``/api/v1/query``)."""
        answer = loopback_get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", answer.text
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, promql: str) -> float | None:
        """The single value of a query that gives one series (or None when it gives none)."""
        result = self.query(promql)
        assert len(result) <= 1, f"{promql} gives {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, expected: float, timeout: float = 20.0) -> None:
        """Poll until ``promql`` gives ``expected``; on time-out, fail with what it gave and the targets' health."""
        deadline = time.monotonic() + timeout
        while (got := self.value(promql)) != expected:
            if time.monotonic() > deadline:
                targets = loopback_get(f"{self.url}/api/v1/targets", timeout=10).json()
                health = [(t["labels"].get("job"), t["health"], t.get("lastError"))
                          for t in targets["data"]["activeTargets"]]
                raise AssertionError(f"{promql} gave {got} after {timeout} s, expected {expected}; targets: {health}")
            time.sleep(0.2)


def scrape_config(targets: Sequence[Target], interval: str = "1s") -> dict[str, Any]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [{
            "job_name": t.job,
            "scheme": urlsplit(t.url).scheme,
            "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials_file": str(t.token_file)},
            "static_configs": [{"targets": [urlsplit(t.url).netloc], "labels": t.labels}],
        } for t in targets],
    }


@contextmanager
def running_prometheus(work_dir: Path, targets: Sequence[Target]) -> Iterator[PrometheusServer]:
    binary = require(PROMETHEUS)
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "prometheus.yml"
    config.write_text(json.dumps(scrape_config(targets), indent=2))  # JSON is YAML
    port = free_port()
    log = work_dir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={work_dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while not _ready(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not become ready: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _ready(url: str) -> bool:
    try:
        return loopback_get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels`` in a text exposition (None if absent)."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return None


def write_token(path: Path) -> str:
    """A fresh metrics token in ``path`` (mode 0600), as an operator makes one; returns it."""
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
