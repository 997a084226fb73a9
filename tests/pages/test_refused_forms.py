"""The shop's compose form keeps everything typed through every refusal: a 20 MB label image (413), a file that
is no PNG or JPEG (422) and a mix of 90 % (422), with the size limit in one unit (MiB) everywhere. With JavaScript
the browser refuses the image before it is sent; without, the server does, and nothing of the form is lost."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.pages.sites import ShopSite, label_png

pytestmark = pytest.mark.browser

NAME, LABEL, QUANTITY, SIZE = "Nur Aina binti Abdullah", "Selamat hari jadi, Aina!", "3", "750"
MIX = [("mango", "50"), ("orange", "40"), ("ginger", "10")]
BAD_MIX = [("mango", "50"), ("orange", "30"), ("ginger", "10")]  # 90 %
TWENTY_MB = 20 * 1024 * 1024
NOT_AN_IMAGE = FilePayload(name="label.pdf", mimeType="application/pdf", buffer=b"%PDF-1.7\n" + b"0" * 2048)
TOO_LARGE = f"The image is 20.0 MiB ({TWENTY_MB:,} bytes); choose one of at most 2.0 MiB."


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20 MB "PNG", as a file: the browser reads it from disk (a buffer this large takes Playwright half a
    minute to hand over)."""
    path = tmp_path_factory.mktemp("images") / "poster.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(TWENTY_MB - 8))
    return path


@pytest.fixture
def compose(browser: Browser, shop_site: ShopSite, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The compose page in a fresh browser, JavaScript on or off (``indirect`` parameter)."""
    context = browser.new_context(base_url=shop_site.url, java_script_enabled=request.param,
                                  viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/")
    yield page
    context.close()


def _type_the_order(page: Page, mix: list[tuple[str, str]]) -> None:
    page.fill("#customer_name", NAME)
    page.check(f"input[name=bottle_size_ml][value='{SIZE}']")
    for row, (ingredient, ratio) in enumerate(mix, start=1):
        page.select_option(f"select[aria-label='Ingredient {row}']", ingredient)
        page.fill(f"input[aria-label='Ratio {row} in percent']", ratio)
    page.fill("#quantity", QUANTITY)
    page.fill("#label_text", LABEL)


def _assert_everything_typed_is_there(page: Page, mix: list[tuple[str, str]]) -> None:
    expect(page.locator("#customer_name")).to_have_value(NAME)
    expect(page.locator(f"input[name=bottle_size_ml][value='{SIZE}']")).to_be_checked()
    rows = mix + [("", "")] * (5 - len(mix))
    for row, (ingredient, ratio) in enumerate(rows, start=1):
        expect(page.locator(f"select[aria-label='Ingredient {row}']")).to_have_value(ingredient)
        expect(page.locator(f"input[aria-label='Ratio {row} in percent']")).to_have_value(ratio)
    expect(page.locator("#quantity")).to_have_value(QUANTITY)
    expect(page.locator("#label_text")).to_have_value(LABEL)


def _submit(page: Page) -> int:
    with page.expect_response(lambda r: r.url.endswith("/orders") and r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    page.wait_for_load_state()
    return answer.value.status


@pytest.mark.parametrize("compose", [False], indirect=True, ids=["without-javascript"])
def test_without_javascript_the_server_refuses_and_every_typed_value_comes_back(compose: Page, huge: Path) -> None:
    page = compose
    expect(page.locator("label[for=label_image]")).to_contain_text("up to 2.0 MiB")
    _type_the_order(page, MIX)

    page.set_input_files("#label_image", huge)
    assert _submit(page) == 413
    expect(page.locator("#label_image-error")).to_have_text(TOO_LARGE)
    expect(page.get_by_text("You had chosen poster.png; choose it again.")).to_be_visible()
    _assert_everything_typed_is_there(page, MIX)

    page.set_input_files("#label_image", NOT_AN_IMAGE)
    assert _submit(page) == 422
    expect(page.locator("#label_image-error")).to_contain_text("choose a PNG or JPEG image")
    _assert_everything_typed_is_there(page, MIX)

    page.fill("input[aria-label='Ratio 2 in percent']", "30")
    assert _submit(page) == 422
    expect(page.locator("#ingredients-error")).to_contain_text("The ratios add up to 90%")
    _assert_everything_typed_is_there(page, BAD_MIX)


@pytest.mark.parametrize("compose", [True], indirect=True, ids=["with-javascript"])
def test_with_javascript_the_browser_stops_a_wrong_image_and_a_bad_mix_marks_only_its_rows(compose: Page,
                                                                                          huge: Path) -> None:
    page = compose
    _type_the_order(page, BAD_MIX)

    page.set_input_files("#label_image", huge)  # refused before a byte is sent
    expect(page.locator("#label_image-error")).to_have_text(TOO_LARGE)
    page.evaluate("window.stayedOnThePage = true")  # gone if the form were sent and a new page loaded
    page.click("button[type=submit]")
    expect(page.locator("#label_image")).to_be_focused()
    assert page.evaluate("window.stayedOnThePage === true")
    page.set_input_files("#label_image", NOT_AN_IMAGE)
    expect(page.locator("#label_image-error")).to_have_text("The file is application/pdf; choose a PNG or JPEG image.")
    _assert_everything_typed_is_there(page, BAD_MIX)

    page.set_input_files("#label_image", FilePayload(name="label.png", mimeType="image/png", buffer=label_png()))
    expect(page.locator("#label_image-error")).to_be_hidden()
    assert _submit(page) == 422
    expect(page.locator("#ingredients-error")).to_contain_text("The ratios add up to 90%; make them add up to exactly "
                                                             "100%.")
    _assert_everything_typed_is_there(page, BAD_MIX)
    rows = page.locator("tr.mix-row")
    for row in range(5):  # the three rows of the mix are marked; the two blank slots are not
        select, ratio = rows.nth(row).locator("select"), rows.nth(row).locator("input")
        if row < len(BAD_MIX):
            expect(select).to_have_attribute("aria-invalid", "true")
            expect(ratio).to_have_attribute("aria-invalid", "true")
        else:
            expect(select).not_to_have_attribute("aria-invalid", "true")
            expect(ratio).not_to_have_attribute("aria-invalid", "true")
