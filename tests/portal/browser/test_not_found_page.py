"""A mistyped page address shows the portal's own 404 page, with a way home."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.portal.browser.steps import shot

pytestmark = pytest.mark.browser


def test_an_unknown_page_shows_the_portals_404_page_with_a_link_home(open_page) -> None:
    page = open_page()
    response = page.goto("/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page).to_have_title("Page not found · ABM Portal")
    expect(page.locator("main")).to_contain_text("/no/such/page")
    shot(page, "not-found")

    page.get_by_role("link", name="Go to the home page").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
