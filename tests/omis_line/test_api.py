"""The operator's HTTP surface: login on everything but /healthz, orders, trace queries, OEE, labels, the page."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from omis_line.config import Settings
from omis_line.db import migrate
from omis_line.web.app import create_app
from omis_line.web.auth import hash_password
from tests.omis_line.conftest import LABEL, PASSWORD, RunningLine, sales_order
from tests.support.live_server import live_server, loopback_get
from tests.support.postgres import free_port

PROTECTED = ["/", "/?minutes=5", "/events", "/api/orders", "/api/orders/SO-X", "/api/trace?order=SO-X",
             "/api/oee", f"/api/labels/{hashlib.sha256(LABEL).hexdigest()}", "/docs", "/openapi.json"]


@pytest.fixture(scope="module")
def finished_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLine]:
    """One line for the module, with two completed orders taken a moment apart."""
    data_dir = tmp_path_factory.mktemp("api") / "line"
    data_dir.mkdir()
    (data_dir / "aadsys-api-key").write_text("aak_test\n")
    (data_dir / "operator-password.argon2").write_text(hash_password(PASSWORD))
    settings = Settings(data_dir=data_dir, aadsys_url=f"http://127.0.0.1:{free_port()}",
                        station_seconds="0.005,0.01", failure_probability=0.0, seed=3)
    migrate(settings.resolved_database_url)
    app = create_app(settings)
    with live_server(app) as url:
        line = RunningLine(url, app.state.runtime)
        line.take(sales_order("SO-A", quantity=1))
        line.wait_state("SO-A", "completed")
        line.take(sales_order("SO-B", quantity=2))
        line.wait_state("SO-B", "completed")
        yield line
        line.client.close()


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("auth", [None, ("operator", "wrong password"), ("admin", "bottles all the way")])
def test_every_endpoint_but_healthz_needs_the_operator(finished_line: RunningLine, path: str,
                                                       auth: tuple[str, str] | None) -> None:
    response = loopback_get(finished_line.url + path, auth=auth, timeout=10)

    if path in ("/docs", "/openapi.json"):
        assert response.status_code in (401, 404)  # not served at all
        return
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_healthz_answers_without_login(finished_line: RunningLine) -> None:
    response = loopback_get(finished_line.url + "/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_order_json_has_the_contract_keys(finished_line: RunningLine) -> None:
    order = finished_line.order("SO-B")

    assert set(order) == {"orderId", "state", "receivedAt", "completedAt", "productionOrders",
                          "statusRevisionsPosted", "statusRevisionsPending"}
    production = order["productionOrders"][0]
    assert set(production) == {"id", "bottleSizeMl", "quantity", "bom", "labelText", "labelImage", "bottles"}
    assert production["bom"] == {"ingredients": [{"ingredient": "orange", "volumeMl": 600},
                                                 {"ingredient": "carrot", "volumeMl": 400}],
                                 "bottles": 2, "caps": 2, "labels": 2}
    assert set(production["bottles"][0]) == {"rfidTag", "state", "printedSha256"}
    listed = finished_line.client.get("/api/orders").json()["items"]
    assert [o["orderId"] for o in listed] == ["SO-B", "SO-A"]


def test_unknown_order_is_a_404_problem(finished_line: RunningLine) -> None:
    response = finished_line.client.get("/api/orders/SO-NOPE")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "SO-NOPE" in response.json()["detail"]


def test_trace_by_order_and_by_time_range(finished_line: RunningLine) -> None:
    by_order = finished_line.trace("SO-A")
    b_trace = finished_line.trace("SO-B")
    start = min(t["entered"] for t in b_trace)
    end = max(t["entered"] for t in b_trace)

    by_time = finished_line.client.get("/api/trace", params={"from": start, "to": end}).json()["items"]
    both = finished_line.client.get("/api/trace", params={"order": "SO-A", "from": start}).json()["items"]

    assert {t["salesOrder"] for t in by_order} == {"SO-A"} and len(by_order) == 6
    assert set(by_order[0]) == {"rfidTag", "salesOrder", "productionOrder", "station", "entered", "left", "result"}
    assert by_time == b_trace  # every pass of SO-B, none of SO-A (which ended before SO-B began)
    assert both == []


@pytest.mark.parametrize("query", [{}, {"from": "yesterday"}, {"order": "SO-A", "to": "2026-13-01T00:00:00Z"},
                                   {"from": "2026-11-22T11:00:00Z", "to": "2026-11-22T10:00:00Z"}])
def test_bad_trace_queries_are_problems_that_name_the_parameter(finished_line: RunningLine,
                                                                query: dict[str, str]) -> None:
    response = finished_line.client.get("/api/trace", params=query)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["errors"][0]["field"] in ("order", "from", "to")
    assert body["detail"]


@pytest.mark.parametrize("query", [{"from": "soon"}, {"minutes": "-3"}, {"minutes": "many"},
                                   {"from": "2026-11-22T11:00:00Z", "to": "2026-11-22T10:00:00Z"}])
def test_bad_oee_windows_are_problems(finished_line: RunningLine, query: dict[str, str]) -> None:
    response = finished_line.client.get("/api/oee", params=query)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_oee_over_the_run_counts_the_three_good_bottles(finished_line: RunningLine) -> None:
    trace = finished_line.client.get("/api/trace", params={"from": "2000-01-01T00:00:00Z"}).json()["items"]
    start = datetime.fromisoformat(trace[0]["entered"]) - timedelta(seconds=1)
    end = datetime.fromisoformat(trace[-1]["left"]) + timedelta(seconds=1)

    figures = finished_line.client.get("/api/oee", params={"from": start.isoformat(), "to": end.isoformat()}).json()
    default = finished_line.client.get("/api/oee").json()

    assert set(figures) == {"from", "to", "plannedSeconds", "runSeconds", "availability", "performance", "quality",
                            "oee", "bottlesStarted", "bottlesGood", "bottlesFailed", "throughputPerMinute"}
    assert (figures["bottlesStarted"], figures["bottlesGood"], figures["bottlesFailed"]) == (3, 3, 0)
    assert figures["quality"] == 1
    assert 0 < figures["availability"] < 1 and 0 < figures["performance"] <= 1
    assert figures["oee"] == pytest.approx(figures["availability"] * figures["performance"], abs=1e-3)
    assert default["plannedSeconds"] == 900 and default["bottlesGood"] == 3


def test_label_endpoint_serves_what_the_printer_printed(finished_line: RunningLine) -> None:
    sha = finished_line.order("SO-A")["productionOrders"][0]["bottles"][0]["printedSha256"]

    response = finished_line.client.get(f"/api/labels/{sha}")
    missing = finished_line.client.get(f"/api/labels/{'0' * 64}")

    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert hashlib.sha256(response.content).hexdigest() == sha
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_operator_page_shows_stations_queue_orders_and_figures(finished_line: RunningLine) -> None:
    page = finished_line.client.get("/", params={"minutes": "60"})

    assert page.status_code == 200
    for text in ("loading", "packaging", "SO-A", "SO-B", "completed", "Availability", "OEE", "Throughput",
                 'value="60"', "new EventSource"):
        assert text in page.text


def test_operator_page_form_errors_rerender_with_messages_and_what_was_typed(finished_line: RunningLine) -> None:
    page = finished_line.client.get("/", params={"from": "last tuesday", "minutes": "0"})

    assert page.status_code == 422
    assert 'value="last tuesday"' in page.text and 'value="0"' in page.text
    assert "not an ISO 8601 datetime" in page.text and "minutes must be a number" in page.text


def test_live_events_send_line_snapshots(finished_line: RunningLine) -> None:
    with finished_line.client.stream("GET", "/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break

    assert "event: snapshot" in lines
    assert '"stations"' in lines[-1] and '"html"' in lines[-1]


