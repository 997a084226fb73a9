"""Every page of the portal, the shop and the line fits a 390 px phone: the page itself never scrolls sideways
(a wide table scrolls inside its own box or becomes one card per row), every control is at least 44 px tall
(WCAG 2.5.5, target size), and every time it shows is written one way, UTC to the second
(``2026-12-07 05:43:05Z``), signed in and out.

The pages come from each app's GET routes: a route is either visited here or named as not a page (JSON, a
stream, an image), so a new page cannot be forgotten. With ``PAGES_SCREENSHOTS=DIR`` (``scripts/screenshots.sh``)
each visit also saves ``DIR/<app>/<page>-390.png`` and ``-1280.png``, small (a palette of 32 colours).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page
from starlette.routing import Mount

from tests.pages.sites import OPERATOR_PASSWORD, PASSWORD, STAFF_PASSWORD, LineSite, PortalSite, ShopSite

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
NOT_FOUND = "(no route: the 404 page)"
TOUCH_PX = 44
# Controls that are shown and smaller than a fingertip; radio buttons and checkboxes are reached by their labels.
SMALL_CONTROLS = """(least) => Array.from(document.querySelectorAll(
    'button, .button, select, input:not([type=hidden]):not([type=radio]):not([type=checkbox])'))
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.height < least; })
  .map(e => e.outerHTML.slice(0, 100))"""
SCREENSHOTS = os.environ.get("PAGES_SCREENSHOTS")
# Anything that looks like a time, except an example of what to type ("e.g. 2026-11-22T10:15:00Z").
TIME_LIKE = re.compile(r"(?<!e\.g\. )\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?"
                       r"|\b\d{1,2}:\d{2}(?::\d{2})? ?[AP]M\b")
SHOWN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z")


@dataclass(frozen=True)
class Sites:
    portal: PortalSite
    shop: ShopSite
    line: LineSite


@dataclass(frozen=True)
class Visit:
    """One page as a person opens it: ``route`` is the app's path template the ``address`` is served by."""

    app: str
    route: str
    name: str
    signed_in: bool
    address: Callable[[Sites], str]

    @property
    def id(self) -> str:
        return f"{self.app}-{self.name}"


def _at(path: str) -> Callable[[Sites], str]:
    return lambda _: path


def _portal(route: str, name: str, signed_in: bool, address: Callable[[Sites], str] | None = None) -> Visit:
    return Visit("portal", route, name, signed_in, address or _at(route))


VISITS = [
    _portal("/", "home", True),
    _portal("/catalog", "catalog", True),
    _portal("/catalog", "catalog-search", True, _at("/catalog?q=order")),
    _portal("/assets/{asset_id}", "asset-of-a-partner", True, lambda s: f"/assets/{s.portal.ids['status']}"),
    _portal("/assets/{asset_id}", "asset-of-our-own", True, lambda s: f"/assets/{s.portal.ids['sales_order']}"),
    _portal("/assets/new", "asset-new", True),
    _portal("/subscriptions", "subscriptions", True),
    _portal("/approvals", "approvals", True),
    _portal("/organisation", "organisation", True),
    _portal("/audit", "audit", True),
    _portal("/audit", "audit-bad-date", True, _at("/audit?from=yesterday")),
    _portal("/reports/organisation", "organisation-report", True),  # pec_admin: an organisation administrator
    _portal("/register", "register-signed-in", True),
    _portal("/login", "login-signed-in", True),
    _portal(NOT_FOUND, "not-found-signed-in", True, _at("/no/such/page")),
    _portal("/", "home-signed-out", False),
    _portal("/login", "login", False),
    _portal("/register", "register", False),
    _portal("/subscriptions", "subscriptions-signed-out", False),
    _portal(NOT_FOUND, "not-found", False, _at("/no/such/page")),
    Visit("shop", "/", "compose", False, _at("/")),
    Visit("shop", "/orders/{token}", "order", False, lambda s: f"/orders/{s.shop.order_token}"),
    Visit("shop", NOT_FOUND, "order-unknown", False, _at("/orders/" + "A" * 32)),
    Visit("shop", "/staff/report", "sales-report", True, _at("/staff/report")),
    Visit("line", "/", "operator", True, _at("/")),
    Visit("line", "/", "operator-bad-window", True, _at("/?minutes=soon")),
    Visit("line", "/", "operator-signed-out", False, _at("/")),
    Visit("line", "/report", "production-report", True, _at("/report")),
]

# GET routes that are no page: what they are instead.
NOT_PAGES: dict[str, dict[str, str]] = {
    "portal": {"/subscriptions/live.json": "the live-refresh fingerprint (JSON)",
               "/docs": "the REST API's OpenAPI page (FastAPI's)", "/docs/oauth2-redirect": "part of /docs",
               "/redoc": "the REST API's ReDoc page (FastAPI's)", "/openapi.json": "OpenAPI (JSON)",
               "/healthz": "liveness (JSON)", "/readyz": "readiness (JSON)", "/metrics": "Prometheus text",
               "/reports/organisation.pdf": "the organisation report as a PDF"},
    "shop": {"/orders/{token}/label": "the label image", "/orders/{token}/events": "Server-Sent Events",
             "/api/docs": "the JSON API's OpenAPI page (FastAPI's)", "/docs/oauth2-redirect": "part of /api/docs",
             "/api/openapi.json": "OpenAPI (JSON)", "/healthz": "liveness (JSON)", "/metrics": "Prometheus text",
             "/staff/report.pdf": "the sales report as a PDF"},
    "line": {"/events": "Server-Sent Events", "/healthz": "liveness (JSON)", "/metrics": "Prometheus text",
             "/report.pdf": "the production report as a PDF"},
}
API_PREFIXES = ("/api/", "/oauth/", "/.well-known/")


def _get_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[str]:
    """The paths of every GET route, through included routers (FastAPI keeps them as a tree)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _get_routes(included.routes, prefix + route.include_context.prefix)
        elif not isinstance(route, Mount) and "GET" in (getattr(route, "methods", None) or ()):
            yield prefix + route.path


def page_routes(app: Any, app_name: str) -> set[str]:
    return {path for path in _get_routes(app.routes)
            if not path.startswith(API_PREFIXES) and path not in NOT_PAGES[app_name]}


@pytest.fixture(scope="module")
def sites(portal_site: PortalSite, shop_site: ShopSite, line_site: LineSite) -> Sites:
    return Sites(portal_site, shop_site, line_site)


@pytest.fixture(scope="module")
def tabs(browser: Browser, sites: Sites) -> Iterator[Callable[[str, bool], Page]]:
    """One tab per app and sign-in state, opened on first use: ``tabs("portal", True)``."""
    contexts: list[BrowserContext] = []
    opened: dict[tuple[str, bool], Page] = {}

    def tab(app: str, signed_in: bool) -> Page:
        if (app, signed_in) not in opened:
            url = {"portal": sites.portal.url, "shop": sites.shop.url, "line": sites.line.url}[app]
            basic = {"line": ("operator", OPERATOR_PASSWORD), "shop": ("staff", STAFF_PASSWORD)}.get(app)
            login = {"username": basic[0], "password": basic[1]} if basic and signed_in else None
            context = browser.new_context(base_url=url, viewport=PHONE, http_credentials=login)
            context.set_default_timeout(10_000)
            contexts.append(context)
            page = context.new_page()
            if app == "portal" and signed_in:
                page.goto("/login")
                page.get_by_label("Email address").fill(sites.portal.users["pec_admin"])
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(lambda u: "/login" not in u)
            opened[(app, signed_in)] = page
        return opened[(app, signed_in)]

    yield tab
    for context in contexts:
        context.close()


@pytest.mark.parametrize("app", ["portal", "shop", "line"])
def test_every_page_route_is_visited_at_phone_width(sites: Sites, app: str) -> None:
    served = page_routes({"portal": sites.portal, "shop": sites.shop, "line": sites.line}[app].app, app)
    visited = {v.route for v in VISITS if v.app == app} - {NOT_FOUND}
    assert visited == served, (f"pages not visited: {sorted(served - visited)}; "
                               f"visited but not served: {sorted(visited - served)}")


@pytest.mark.parametrize("visit", VISITS, ids=[v.id for v in VISITS])
def test_page_fits_a_390px_phone_with_touch_sized_controls(tabs: Callable[[str, bool], Page], sites: Sites,
                                                           visit: Visit) -> None:
    page = tabs(visit.app, visit.signed_in)
    page.set_viewport_size(PHONE)
    if visit.app == "line" and not visit.signed_in:
        # A browser asks for the operator's login; Playwright cannot dismiss that dialog, so the page shown
        # after "Cancel" is loaded as the body the server sent with its 401.
        answer = page.request.get(visit.address(sites), headers={"Accept": "text/html"})
        assert answer.status == 401
        page.set_content(answer.text())
        redirected = False
    else:
        page.goto(visit.address(sites))
        redirected = urlsplit(page.url).path != urlsplit(visit.address(sites)).path

    width = page.evaluate("document.documentElement.scrollWidth")
    small = page.evaluate(SMALL_CONTROLS, TOUCH_PX - 0.5)
    times = TIME_LIKE.findall(page.evaluate("document.body.innerText"))
    print(f"{visit.id}: scrollWidth {width}")  # shown with -s

    if SCREENSHOTS and not redirected:  # a page that sent the browser elsewhere is pictured there
        _screenshots(page, Path(SCREENSHOTS) / visit.app / visit.name)
    assert width <= PHONE["width"], f"{visit.id} is {width} px wide at 390 px"
    assert small == [], f"{visit.id}: controls under {TOUCH_PX} px tall: {small}"
    assert [t for t in times if not SHOWN_TIME.fullmatch(t)] == [], f"{visit.id}: times in other formats"


def _screenshots(page: Page, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        path = stem.with_name(f"{stem.name}-{size['width']}.png")
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        with Image.open(path) as shot:
            small = shot.convert("RGB").quantize(colors=32, method=Image.Quantize.FASTOCTREE)
        small.save(path, optimize=True)
    page.set_viewport_size(PHONE)
