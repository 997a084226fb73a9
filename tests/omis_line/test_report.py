"""The production report: figures of a seeded trace against a hand computation, the PDF's text and a page of it, the
HTML in Chromium, the CLI and the operator-only routes, an empty frame and a bad one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from omis_line import report
from omis_line.cli import app as cli
from omis_line.config import Settings
from omis_line.db import Database
from omis_line.models import OrderState, SalesOrder, TraceEvent
from tests.omis_line.conftest import PASSWORD
from tests.support.live_server import loopback_get
from tests.support.reports import pdf_text, save_first_page, screenshots

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
FRAME = ("2026-11-02T10:00:00Z", "2026-11-02T10:10:00Z")  # 600 s planned
IDEAL_CYCLE = 20.0
# bottle, order, station, entered and left (seconds after T0), result
PASSES = [("A", "SO-1", s, a, b, r) for s, a, b, r in [
    ("loading", 0, 10, "ok"), ("mixing", 10, 20, "ok"), ("filling", 20, 30, "ok"), ("capping", 30, 40, "rework"),
    ("capping", 40, 50, "ok"), ("printing", 50, 60, "ok"), ("packaging", 60, 70, "ok")]] + \
    [("B", "SO-1", s, a, b, "ok") for s, a, b in [
        ("loading", 10, 20), ("mixing", 20, 30), ("filling", 30, 40), ("capping", 50, 60), ("printing", 60, 70),
        ("packaging", 70, 80)]] + \
    [("C", "SO-2", "loading", 100, 110, "ok"), ("C", "SO-2", "mixing", 110, 140, "failed")]
# order, received, completed (seconds after T0) -> lead times 140, 900, 360 s
ORDERS = [("SO-1", -60, 80), ("SO-3", -600, 300), ("SO-4", 0, 360)]


def seed(settings: Settings) -> None:
    database = Database(settings.resolved_database_url)
    at = lambda seconds: T0 + timedelta(seconds=seconds)  # noqa: E731
    with database.session() as session:
        for tag, order_id, station, entered, left, result in PASSES:
            session.add(TraceEvent(rfid_tag=tag, production_order_id=1, sales_order_id=order_id, station=station,
                                   entered=at(entered), left=at(left), result=result))
        for order_id, received, completed in ORDERS:
            session.add(SalesOrder(order_id=order_id, state=OrderState.COMPLETED, received_at=at(received),
                                   completed_at=at(completed), record="{}"))
        session.add(SalesOrder(order_id="SO-2", state=OrderState.FAILED, received_at=at(90), record="{}"))
        session.commit()
    database.dispose()


@pytest.fixture
def seeded(line_settings: Callable[..., Settings]) -> Settings:
    settings = line_settings(planned_ideal_cycle_seconds=IDEAL_CYCLE)
    (settings.data_dir / "omis_line.toml").write_text(f"planned_ideal_cycle_seconds = {IDEAL_CYCLE}\n")  # for the CLI
    seed(settings)
    return settings


def test_figures_match_the_hand_computed_trace(seeded: Settings) -> None:
    database = Database(seeded.resolved_database_url)
    with database.session() as session:
        built = report.build(session, *report.parse_range(*FRAME), IDEAL_CYCLE)
    database.dispose()
    # run time: [0, 80] and [100, 140] = 120 s of 600; started A, B, C; good A, B; failed C
    assert built.oee["availability"] == 0.2
    assert built.oee["performance"] == 0.5  # 20 s ideal x 3 started / 120 s run
    assert built.oee["quality"] == 0.6667  # 2 good of 3 finished
    assert built.oee["oee"] == 0.0667
    assert [d["day"] for d in built.days] == ["2026-11-02"] and built.days[0]["oee"] == 0.0667
    stations = {s.station: s for s in built.stations}
    assert (stations["loading"].bottles, stations["loading"].ok, stations["loading"].mean_seconds) == (3, 3, 10)
    assert (stations["mixing"].bottles, stations["mixing"].failures) == (3, 1)
    assert (stations["capping"].bottles, stations["capping"].reworks, stations["capping"].ok) == (2, 1, 2)
    assert built.slowest is not None and built.slowest.station == "mixing"  # (10 + 10 + 30) / 3 s
    assert built.rework_rate == pytest.approx(1 / 3)  # A of A, B, C
    assert sorted(built.lead_times) == [140, 360, 900]
    assert (built.lead_p50, built.lead_p95) == (360, 900)  # nearest rank: 2nd and 3rd of 3
    assert (built.orders_completed, built.orders_failed) == (3, 1)


def test_the_cli_writes_a_pdf_whose_text_holds_the_headline_figures(seeded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "production.pdf"
    result = CliRunner().invoke(cli, ["report", "--data-dir", str(seeded.data_dir), "--from", FRAME[0], "--to",
                                      FRAME[1], "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")
    text = pdf_text(out)
    for figure in ("OEE 6.7 %", "Availability 20.0 %", "Performance 50.0 %", "Quality 66.7 %", "Rework rate 33.3 %",
                   "Lead time p50 6.0 min", "p95 15.0 min", "Slowest station mixing"):
        assert figure in text, f"{figure!r} is not in the PDF's text:\n{text}"
    save_first_page(out, screenshots(tmp_path) / "line-production-report-pdf.png")


def test_an_empty_frame_says_so_and_a_bad_one_names_the_fix(seeded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    done = CliRunner().invoke(cli, ["report", "--data-dir", str(seeded.data_dir), "--from", "2026-01-01", "--to",
                                    "2026-01-31", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "No production in this period" in out.read_text()
    for bad, says in ((["--from", "2026-11-05", "--to", "2026-11-01"], "--from: 'from' must be before 'to'"),
                      (["--from", "yesterday"], "--from: 'yesterday' is not a date"),
                      (["--format", "docx"], "--format is html or pdf")):
        refused = CliRunner().invoke(cli, ["report", "--data-dir", str(seeded.data_dir), *bad])
        assert refused.exit_code == 2 and says in refused.output, refused.output


def test_the_report_is_for_the_operator_and_looks_right_in_chromium(seeded: Settings,
                                                                     running_line: Callable[..., Any],
                                                                     browser: Browser, tmp_path: Path) -> None:
    query = {"from": FRAME[0], "to": FRAME[1]}
    with running_line(seeded) as line:
        assert loopback_get(f"{line.url}/report", params=query).status_code == 401
        bad = line.client.get("/report.pdf", params={"from": "2026-13-01"})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == "from"
        pdf = line.client.get("/report.pdf", params=query, timeout=60)  # a PDF renders slowly on a busy machine
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        assert "attachment" in pdf.headers["content-disposition"]
        context = browser.new_context(http_credentials={"username": "operator", "password": PASSWORD},
                                      viewport={"width": 900, "height": 1200})
        page = context.new_page()
        page.goto(f"{line.url}/report?from={FRAME[0]}&to={FRAME[1]}")
        assert "OEE 6.7 %" in page.inner_text("body")
        page.screenshot(path=str(screenshots(tmp_path) / "line-production-report.png"), full_page=True)
        context.close()
