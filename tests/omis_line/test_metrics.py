"""``GET /metrics`` of the line: closed without the metrics token (the operator's login is not it); passes by
station and result; the OEE figures of the window as gauges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.omis_line.conftest import PASSWORD, sales_order
from tests.support.live_server import loopback_get
from tests.support.prometheus import bearer, sample, write_token


def test_metrics_are_refused_without_the_configured_token(running_line: Callable[..., Any]) -> None:
    with running_line() as line:
        closed = loopback_get(f"{line.url}/metrics")
        assert closed.status_code == 403 and closed.headers["content-type"] == "application/problem+json"
        assert "OMIS_LINE_METRICS_TOKEN_FILE" in closed.json()["detail"]
        token = write_token(line.runtime.settings.resolved_metrics_token_file)
        for auth in (None, ("operator", PASSWORD)):
            refused = loopback_get(f"{line.url}/metrics", auth=auth)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert loopback_get(f"{line.url}/metrics", headers=bearer("guess")).status_code == 401
        assert loopback_get(f"{line.url}/metrics", headers=bearer(token)).status_code == 200


def test_passes_are_counted_by_station_and_result_and_oee_is_a_gauge(running_line: Callable[..., Any]) -> None:
    with running_line(failure_probability={"capping": 1.0}, max_reworks=1) as line:
        token = write_token(line.runtime.settings.resolved_metrics_token_file)
        line.take(sales_order("SO-M1", quantity=1))
        line.wait_state("SO-M1", "failed")
        shown = loopback_get(f"{line.url}/metrics", headers=bearer(token)).text
    for station in ("loading", "mixing", "filling"):
        assert sample(shown, "omis_line_station_passes_total", station=station, result="ok") == 1
    assert sample(shown, "omis_line_station_passes_total", station="capping", result="rework") == 1
    assert sample(shown, "omis_line_station_passes_total", station="capping", result="failed") == 1
    assert sample(shown, "omis_line_station_passes_total", station="printing", result="ok") is None
    assert sample(shown, "omis_line_window_bottles_started") == 1
    assert sample(shown, "omis_line_window_bottles_failed") == 1
    assert sample(shown, "omis_line_quality_ratio") == 0 and sample(shown, "omis_line_oee_ratio") == 0
    assert sample(shown, "omis_line_oee_window_seconds") == 15 * 60
