"""``GET /metrics`` of the AAdSys: requests by route template, latency, instances by type, readiness, the token,
and figures that add up over worker processes (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aadsys.cli import prepare
from aadsys.config import Settings
from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from tests.aadsys.conftest import order
from tests.support.live_server import live_server, loopback_client, loopback_get
from tests.support.prometheus import bearer, sample, write_token

INSTANCES = "/api/v1/asset-types/{type}/instances"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, AadsysContext, str]]:
    """A served AAdSys on SQLite: (url, context, write key)."""
    settings = Settings(data_dir=tmp_path / "pec", org="pec", base_iri="https://pec.example")
    prepare(settings)
    ctx = AadsysContext.build(settings)
    key = api_keys.create_key(ctx.db, "erp", ["write"])
    with live_server(create_app(settings, context=ctx, extensions=[])) as url:
        yield url, ctx, key
    ctx.db.dispose()


def scrape(url: str, token: str) -> str:
    answer = loopback_get(f"{url}/metrics", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_requests_are_counted_by_route_template_and_instances_by_type(served: tuple[str, AadsysContext, str]
                                                                      ) -> None:
    url, ctx, key = served
    token = write_token(ctx.settings.resolved_metrics_token_file)
    with loopback_client(base_url=url, headers={"X-API-Key": key}) as api:
        for order_id in ("SO-1", "SO-2", "SO-1"):  # the third is an idempotent repeat: 200, nothing new stored
            api.post("/api/v1/asset-types/sales-order/instances", json=order(order_id)).raise_for_status()
        shell = api.get("/api/v1/asset-types/sales-order/instances/SO-1").json()
        assert api.get("/no/such/path/SO-1").status_code == 404
    text = scrape(url, token)
    assert sample(text, "aadsys_instances_created_total", asset_type="sales-order") == 2
    assert sample(text, "aadsys_http_requests_total", method="POST", route=INSTANCES, status="201") == 2
    assert sample(text, "aadsys_http_requests_total", method="POST", route=INSTANCES, status="200") == 1
    assert sample(text, "aadsys_http_request_duration_seconds_count", method="POST", route=INSTANCES) == 3
    assert sample(text, "aadsys_http_requests_total", route="unmatched", status="404") == 1
    assert "SO-1" not in text and "/no/such/path" not in text, "raw paths or keys must never become labels"
    assert sample(text, "aadsys_ready") == 1
    assert shell


def test_reads_answered_before_routing_count_under_their_route_template(served: tuple[str, AadsysContext, str]
                                                                        ) -> None:
    url, ctx, key = served
    token = write_token(ctx.settings.resolved_metrics_token_file)
    with loopback_client(base_url=url, headers={"X-API-Key": key}) as api:
        api.post("/api/v1/asset-types/sales-order/instances", json=order("SO-7")).raise_for_status()
        shells = api.get("/api/v3.0/shells").json()["result"]
        encoded = base64.urlsafe_b64encode(shells[0]["id"].encode()).decode().rstrip("=")
        assert api.get(f"/api/v3.0/shells/{encoded}").status_code == 200
    assert sample(scrape(url, token), "aadsys_http_requests_total", route="/api/v3.0/shells/{aasIdentifier}",
                  status="200") == 1


def test_metrics_are_refused_without_the_configured_token(served: tuple[str, AadsysContext, str]) -> None:
    url, ctx, _ = served
    closed = loopback_get(f"{url}/metrics")
    assert closed.status_code == 403 and closed.headers["content-type"] == "application/problem+json"
    assert "AADSYS_METRICS_TOKEN_FILE" in closed.json()["detail"]
    token = write_token(ctx.settings.resolved_metrics_token_file)
    for headers in ({}, bearer("not-the-token"), {"Authorization": f"Basic {token}"}, {"X-API-Key": token}):
        refused = loopback_get(f"{url}/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert refused.json()["type"].endswith("/metrics-token-required")
    assert loopback_get(f"{url}/metrics", headers=bearer(token)).status_code == 200


def test_readiness_is_zero_while_a_check_fails(served: tuple[str, AadsysContext, str]) -> None:
    url, ctx, _ = served
    token = write_token(ctx.settings.resolved_metrics_token_file)
    ctx.metrics.readiness.add_check("connector loops", lambda: False)
    assert sample(scrape(url, token), "aadsys_ready") == 0
    ctx.metrics.readiness.add_check("connector loops", lambda: 1 / 0 == 0)  # a check that raises fails too
    assert sample(scrape(url, token), "aadsys_ready") == 0
    ctx.metrics.readiness.add_check("connector loops", lambda: True)
    assert sample(scrape(url, token), "aadsys_ready") == 1


WORKER = """
from aadsys.metrics import Metrics
metrics = Metrics()
metrics.instances_created.labels(asset_type="sales-order").inc({n})
metrics.gauge("aadsys_connector_channel_up", "test", ["subscription"], mode="livesum").labels("s1").set(1)
if {n} == 2:
    metrics.process_exiting()  # an orderly end; the other worker "crashes" and its live gauge stays
"""
EXPOSE = "import sys; from aadsys.metrics import Metrics; sys.stdout.write(Metrics().exposition().decode())"


def test_counters_of_two_worker_processes_add_up(tmp_path: Path) -> None:
    """Two processes count into PROMETHEUS_MULTIPROC_DIR; a third (the worker that answers a scrape) shows the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", WORKER.format(n=n)], env=env, check=True, timeout=60)
    shown = subprocess.run([sys.executable, "-c", EXPOSE], env=env, check=True, timeout=60, capture_output=True,
                           text=True).stdout
    assert sample(shown, "aadsys_instances_created_total", asset_type="sales-order") == 5
    # a live gauge adds up the workers that have not ended in order (a crashed one's stays until the service's
    # start empties the directory)
    assert sample(shown, "aadsys_connector_channel_up", subscription="s1") == 1
