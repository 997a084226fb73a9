"""What a person does in the portal, as reusable browser steps (Playwright sync API)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


def shot(page: Page, name: str) -> None:
    """Save the whole page as ``artifacts/screenshots/<name>.png`` (the closing note lists these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def register(page: Page, org_name: str, email: str, *, description: str = "", screenshots: bool = False) -> Credentials:
    page.goto("/register")
    page.get_by_label("Organisation name").fill(org_name)
    page.get_by_label("Description").fill(description)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    if screenshots:
        shot(page, "register")
    page.get_by_role("button", name="Register organisation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{org_name} is registered")
    if screenshots:
        shot(page, "registered")
    return Credentials(page.locator("#client-id").inner_text(), page.locator("#client-secret").inner_text())


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


def publish_asset(page: Page, name: str, asset_type: str, *, description: str = "", semantic_id: str = "",
                  screenshots: bool = False) -> str:
    """Publish through the hand form; returns the new asset's page path."""
    page.goto("/assets/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill(description)
    page.get_by_label("Asset type").fill(asset_type)
    page.get_by_label("Semantic id").fill(semantic_id)
    page.get_by_label("Visibility").select_option("public")
    if screenshots:
        shot(page, "publish_asset")
    page.get_by_role("button", name="Publish asset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    return urlparse(page.url).path


def request_subscription(page: Page, mode: str, valid_from: str, valid_to: str) -> None:
    """On an asset page: fill the request form (times as ``YYYY-MM-DDTHH:MM``, UTC) and send it."""
    page.get_by_label("Real-time" if mode == "realtime" else "Historical").check()
    page.get_by_label("Valid from (UTC)").fill(valid_from)
    page.get_by_label("Valid to (UTC)").fill(valid_to)
    page.get_by_role("button", name="Request subscription").click()


def subscription_state(page: Page, role: str, asset_name: str):  # noqa: ANN201 (a Playwright Locator)
    """The state cell of the subscription to ``asset_name`` in the consumer or provider table."""
    return page.locator(f"tr[id^='{role}-']", has_text=asset_name).locator("td.state")


def subscription_progress(page: Page, role: str, asset_name: str):  # noqa: ANN201 (a Playwright Locator)
    """The progress cell (transfer job or real-time reports) of the subscription to ``asset_name``."""
    return page.locator(f"tr[id^='{role}-']", has_text=asset_name).locator("td.progress")
