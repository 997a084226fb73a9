"""The sales report: figures of seeded orders against a hand computation, the PDF's text and a page of it, the HTML
in Chromium behind the staff login, the CLI, an empty frame and a bad one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from pec_shop import report
from pec_shop.cli import app as cli
from pec_shop.config import Settings
from pec_shop.db import Database
from pec_shop.models import Order, StatusRevision
from pec_shop.staff import hash_password
from tests.pec_shop.shop_support import make_settings, running_shop
from tests.support.live_server import loopback_client, loopback_get
from tests.support.reports import pdf_text, save_first_page, screenshots

FRAME = ("2026-11-01", "2026-11-03")  # the 3rd included
NOW = datetime(2026, 11, 4, tzinfo=UTC)  # orders unchanged since before 2026-11-03T00:00 are stuck
PASSWORD = "juice for everyone"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10 + (day > 0), day or 31, hour, minute, tzinfo=UTC)


# order, placed, mix, quantity, delivery, status (received at), station
ORDERS = [("SO-1", at(1, 9), {"orange": 60, "carrot": 40}, 2, "sent", ("completed", at(1, 11)), None),
          ("SO-2", at(1, 10), {"orange": 100}, 1, "sent", ("completed", at(1, 10, 30)), None),
          ("SO-3", at(2, 8), {"carrot": 40, "orange": 60}, 1, "sent", ("completed", at(2, 14)), None),
          ("SO-4", at(2, 9), {"mango": 100}, 1, "sent", ("in_production", at(2, 9, 30)), "capping"),
          ("SO-5", at(3, 20), {"apple": 100}, 1, "queued", None, None),
          ("SO-6", at(2, 12), {"orange": 100}, 1, "queued", None, None),
          ("SO-0", at(0, 9), {"kiwi": 100}, 1, "sent", ("completed", at(1, 9)), None)]  # the day before


def seed(settings: Settings) -> None:
    database = Database(settings.resolved_database_url)
    with database.session() as session:
        for order_id, placed, mix, quantity, delivery, status, station in ORDERS:
            session.add(Order(order_id=order_id, token_hash=order_id, placed_at=placed, customer_name="Aina",
                              bottle_size_ml=500, quantity=quantity, unit_price="12.90", total="12.90",
                              ingredients=[{"ingredient": k, "percent": v} for k, v in mix.items()],
                              sales_order_json="{}", delivery=delivery, sent_at=placed if delivery == "sent" else None,
                              status=status[0] if status else None, current_station=station))
            session.flush()
            if status:
                session.add(StatusRevision(order_id=order_id, revision=1, status=status[0], current_station=station,
                                           received_at=status[1], body={}))
        session.commit()
    database.dispose()


@pytest.fixture
def seeded(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path / "shop")
    settings.staff_password_file.write_text(hash_password(PASSWORD))
    seed(settings)
    return settings


def test_figures_match_the_hand_computed_orders(seeded: Settings) -> None:
    database = Database(seeded.resolved_database_url)
    with database.session() as session:
        built = report.build(session, *report.parse_range(*FRAME), now=NOW)
    database.dispose()
    assert (built.orders, built.bottles) == (6, 7)
    assert built.by_day == {"2026-11-01": 2, "2026-11-02": 3, "2026-11-03": 1}
    assert dict(built.by_juice) == {"orange 60 % + carrot 40 %": 2, "orange 100 %": 2, "mango 100 %": 1,
                                    "apple 100 %": 1}
    assert sorted(built.lead_times) == [1800, 7200, 21600]
    assert (built.lead_p50, built.lead_p95) == (7200, 21600)  # nearest rank: 2nd and 3rd of 3
    assert [(s.order_id, s.where) for s in built.stuck] == [
        ("SO-4", "in_production at capping"), ("SO-6", "queued at the shop (not yet at PEC's AAdSys)")]


def test_the_cli_writes_a_pdf_whose_text_holds_the_headline_figures(seeded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "sales.pdf"
    done = CliRunner().invoke(cli, ["report", "--data-dir", str(seeded.data_dir), "--from", FRAME[0], "--to",
                                    FRAME[1], "--format", "pdf", "--out", str(out)])
    assert done.exit_code == 0, done.output
    text = pdf_text(out)
    for figure in ("Orders 6", "Lead time p50 2.0 h", "Lead time p95 6.0 h", "Stuck 2", "in_production at capping",
                   "orange 60 % + carrot 40 %"):
        assert figure in text, f"{figure!r} is not in the PDF's text:\n{text}"
    save_first_page(out, screenshots(tmp_path) / "shop-sales-report-pdf.png")


def test_an_empty_frame_says_so_and_a_bad_one_names_the_fix(seeded: Settings, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    done = CliRunner().invoke(cli, ["report", "--data-dir", str(seeded.data_dir), "--from", "2026-01-01", "--to",
                                    "2026-01-31", "--out", str(out)])
    assert done.exit_code == 0 and "No orders in this period" in out.read_text(), done.output
    refused = CliRunner().invoke(cli, ["report", "--data-dir", str(seeded.data_dir), "--from", "2026-11-05",
                                       "--to", "2026-11-01"])
    assert refused.exit_code == 2 and "--from: 'from' must be before 'to'" in refused.output, refused.output


def test_the_report_is_for_staff_and_looks_right_in_chromium(seeded: Settings, browser: Browser,
                                                              tmp_path: Path) -> None:
    query = {"from": FRAME[0], "to": FRAME[1]}
    with running_shop(seeded) as shop:
        anonymous = loopback_get(f"{shop.url}/staff/report", params=query)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
        assert anonymous.headers["content-type"] == "application/problem+json"
        staff = loopback_client(base_url=shop.url, auth=("staff", PASSWORD))
        bad = staff.get("/staff/report", params={"from": "2026-11-03", "to": "2026-11-01"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "from"
        pdf = staff.get("/staff/report.pdf", params=query, timeout=60)  # a PDF renders slowly on a busy machine
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        staff.close()
        context = browser.new_context(http_credentials={"username": "staff", "password": PASSWORD},
                                      viewport={"width": 900, "height": 1200})
        page = context.new_page()
        page.goto(f"{shop.url}/staff/report?from={FRAME[0]}&to={FRAME[1]}")
        assert "Orders 6" in page.inner_text("body")
        page.screenshot(path=str(screenshots(tmp_path) / "shop-sales-report.png"), full_page=True)
        context.close()
