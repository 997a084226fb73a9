"""Logging in and out, CSRF protection of every form, and the friendly 403 page for a member."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.portal.browser.steps import PASSWORD, log_in, log_out, publish_asset, register, request_subscription, shot

pytestmark = pytest.mark.browser


def _submit_first_form_with_token(page: Page, selector: str, token: str | None) -> None:
    """Send a form as a forging site would: without the CSRF field, or with a value it guessed."""
    page.evaluate(
        """([selector, token]) => {
             const form = document.querySelector(selector);
             const field = form.querySelector('input[name=csrf_token]');
             if (token === null) { field.remove(); } else { field.value = token; }
             form.requestSubmit();
           }""",
        [selector, token],
    )


def test_wrong_password_is_refused_with_a_message(open_page) -> None:
    run = uuid.uuid4().hex[:6]
    page = open_page()
    register(page, f"PEC {run}", f"admin-{run}@pec.example")
    log_out(page)
    shot(page, "login")

    log_in(page, f"admin-{run}@pec.example", "not the password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("email address or the password is not right")
    expect(page.get_by_label("Email address")).to_have_value(f"admin-{run}@pec.example")
    expect(page.get_by_label("Password")).to_have_value("")
    shot(page, "login_failed")

    log_in(page, f"admin-{run}@pec.example")
    expect(page.get_by_role("heading", level=1)).to_have_text("Home")  # each role lands on its home page


def test_pages_need_a_login_and_logout_ends_the_session(open_page) -> None:
    run = uuid.uuid4().hex[:6]
    page = open_page()
    page.goto("/subscriptions")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsubscriptions$"))

    register(page, f"PEC {run}", f"admin-{run}@pec.example")
    page.goto("/catalog")
    expect(page.get_by_text(f"admin-{run}@pec.example")).to_be_visible()
    log_out(page)
    expect(page.get_by_role("status")).to_contain_text("You are logged out")
    page.goto("/organisation")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")

    page.get_by_label("Email address").fill(f"admin-{run}@pec.example")  # back to the page asked for first
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"PEC {run}")


@pytest.mark.parametrize("token", [None, "forged-by-another-site"], ids=["missing", "forged"])
def test_form_without_this_sessions_csrf_token_is_refused(open_page, token: str | None) -> None:
    run = uuid.uuid4().hex[:6]
    page = open_page()
    register(page, f"OMIS {run}", f"admin-{run}@omis.example")
    page.goto("/organisation")
    page.get_by_label("Token name").fill("smuggled")

    with page.expect_navigation():
        _submit_first_form_with_token(page, "form[action='/organisation/tokens']", token)
    expect(page.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")
    assert page.evaluate("document.title").startswith("This form could not be accepted")
    if token is None:
        shot(page, "csrf_403")

    page.goto("/organisation")
    expect(page.get_by_text("smuggled")).to_have_count(0)


def test_csrf_token_of_another_session_is_refused(open_page) -> None:
    run = uuid.uuid4().hex[:6]
    victim, attacker = open_page(), open_page()
    register(victim, f"PEC {run}", f"admin-{run}@pec.example")
    attacker.goto("/login")
    stolen = attacker.locator("input[name=csrf_token]").first.input_value()

    response = victim.request.post("/logout", form={"csrf_token": stolen})
    assert response.status == 403
    victim.goto("/catalog")
    expect(victim.get_by_role("heading", level=1)).to_have_text("Catalog")


def test_member_who_tries_to_approve_gets_the_403_page(open_page, add_member) -> None:
    run = uuid.uuid4().hex[:6]
    pec, omis_admin, omis_member = open_page(), open_page(), open_page()
    register(pec, f"PEC {run}", f"admin-{run}@pec.example")
    register(omis_admin, f"OMIS {run}", f"admin-{run}@omis.example")
    add_member(f"admin-{run}@omis.example", f"member-{run}@omis.example", PASSWORD)

    asset_path = publish_asset(omis_admin, f"Line status {run}", "line-status")
    pec.goto(asset_path)
    now = datetime.now(UTC)
    request_subscription(pec, "realtime", now.strftime("%Y-%m-%dT%H:%M"),
                         (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))

    log_in(omis_member, f"member-{run}@omis.example")
    omis_member.goto("/approvals")
    expect(omis_member.get_by_text("Only an administrator")).to_be_visible()
    row = omis_member.locator("tr", has_text=f"PEC {run}")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)

    # The buttons are not shown; a crafted form (with a valid token) is still refused by the service.
    subscription_id = row.get_attribute("id").removeprefix("request-")
    with omis_member.expect_navigation():
        omis_member.evaluate(
            """(id) => {
                 const form = document.createElement('form');
                 form.method = 'post'; form.action = `/subscriptions/${id}/approve`;
                 form.appendChild(document.querySelector('input[name=csrf_token]').cloneNode());
                 document.body.appendChild(form); form.submit();
               }""",
            subscription_id)
    expect(omis_member.get_by_role("heading", level=1)).to_have_text("You are not allowed to do that")
    shot(omis_member, "forbidden_403")

    omis_admin.goto("/approvals")
    expect(omis_admin.locator("tr", has_text=f"PEC {run}")).to_have_count(1)
