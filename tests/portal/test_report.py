"""The organisation administrator's report: figures against what the test did, the PDF's text and a page of it,
the page in Chromium behind the portal's login, the CLI, an empty frame and a bad one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from typer.testing import CliRunner

from abm_portal import reports
from abm_portal.cli import app as cli
from abm_portal.models import Organisation
from tests.portal.conftest import PASSWORD, Account, LivePortal, running_portal
from tests.portal.flows import act, publish, register_connector, request
from tests.support.reports import pdf_text, save_first_page, screenshots

_today = datetime.now(UTC).date()
TODAY = ((_today - timedelta(days=1)).isoformat(), (_today + timedelta(days=1)).isoformat())  # all of this portal


@pytest.fixture(scope="module", params=["sqlite"])
def portal(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with running_portal(request, tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def omis(portal: LivePortal) -> Account:
    """OMIS provides: two approved subscriptions (one historical), one rejected, one still requested; one grant."""
    omis, pec = portal.register("OMIS"), portal.register("PEC")
    register_connector(portal, pec)
    with portal.client(omis.admin_token) as provider, portal.client(pec.admin_token) as consumer:
        realtime = request(consumer, publish(provider)["id"])
        historical = request(consumer, publish(provider)["id"], mode="historical")
        rejected = request(consumer, publish(provider)["id"])
        request(consumer, publish(provider)["id"])
        act(provider, realtime["id"], "approve")
        act(provider, historical["id"], "approve")
        act(provider, rejected["id"], "reject", reason="Not for you")
        assert consumer.get(f"/api/v1/subscriptions/{realtime['id']}/grant").status_code == 200
    return omis


def test_figures_match_what_happened(portal: LivePortal, omis: Account) -> None:
    with portal.database.session() as db:
        org = db.get(Organisation, omis.org_id)
        assert org is not None
        built = reports.build(db, org, *reports.parse_range(*TODAY))
    assert built.subscriptions == {"requested": 1, "approved": 2, "rejected": 1}
    assert built.roles == {"provider": 4}
    assert built.transfers == {"pending": 1}
    assert built.refusals == {"subscription.rejected": 1}
    assert built.grants_issued == 1
    actions = [e.action for e in built.audit]
    assert actions.count("subscription.requested") == 4 and "grant.issued" in actions


def test_the_cli_writes_a_pdf_whose_text_holds_the_headline_figures(portal: LivePortal, omis: Account,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "portal.pdf"
    done = CliRunner().invoke(cli, ["report", "--org", omis.name, "--from", TODAY[0], "--to", TODAY[1], "--format",
                                    "pdf", "--out", str(out), "--data-dir", str(portal.settings.data_dir)])
    assert done.exit_code == 0, done.output
    text = pdf_text(out)
    for figure in (f"Portal report: {omis.name}", "Subscriptions 4", "Transfers 1", "Refusals 1",
                   "Grants issued 1", "subscription.rejected"):
        assert figure in text, f"{figure!r} is not in the PDF's text:\n{text}"
    save_first_page(out, screenshots(tmp_path) / "portal-organisation-report-pdf.png")


def test_an_empty_frame_says_so_and_a_bad_one_names_the_fix(portal: LivePortal, omis: Account,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    base = ["report", "--org", omis.org_id, "--data-dir", str(portal.settings.data_dir)]
    done = CliRunner().invoke(cli, [*base, "--from", "2001-01-01", "--to", "2001-01-31", "--out", str(out)])
    assert done.exit_code == 0 and "Nothing happened for" in out.read_text(), done.output
    refused = CliRunner().invoke(cli, [*base, "--from", "2026-11-05", "--to", "2026-11-01"])
    assert refused.exit_code == 2 and "--from: 'from' must be before 'to'" in refused.output, refused.output
    unknown = CliRunner().invoke(cli, ["report", "--org", "Nobody", "--data-dir", str(portal.settings.data_dir)])
    assert unknown.exit_code == 2 and "no organisation is named" in unknown.output


def test_the_report_is_for_the_organisation_admin_and_looks_right_in_chromium(portal: LivePortal, omis: Account,
                                                                             browser: Browser, tmp_path: Path) -> None:
    with portal.client() as anonymous:
        assert anonymous.get("/reports/organisation", follow_redirects=False).status_code == 303  # to the login
    context = browser.new_context(viewport={"width": 900, "height": 1200})
    page = context.new_page()
    page.goto(f"{portal.url}/login?next=/reports/organisation")
    page.fill("input[name=email]", omis.admin_email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    bad = page.request.get(f"{portal.url}/reports/organisation?from=2026-11-05&to=2026-11-01")
    assert bad.status == 400 and bad.headers["content-type"] == "application/problem+json"
    pdf = page.request.get(f"{portal.url}/reports/organisation.pdf?from={TODAY[0]}&to={TODAY[1]}")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")
    page.goto(f"{portal.url}/reports/organisation?from={TODAY[0]}&to={TODAY[1]}")
    assert "Grants issued 1" in page.inner_text("body")
    page.screenshot(path=str(screenshots(tmp_path) / "portal-organisation-report.png"), full_page=True)
    context.close()
