"""Browser fixtures: the real portal app on a live uvicorn (SQLite in a tmp dir), Debian Chromium via Playwright."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.support.live_server import live_server


@dataclass
class Portal:
    url: str
    settings: Any


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """One migrated portal per test module; tests keep apart by registering their own organisations."""
    from abm_portal.app import create_app
    from abm_portal.cli import prepare
    from abm_portal.config import Settings

    data_dir = tmp_path_factory.mktemp("portal")
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'portal.db'}")
    prepare(settings, make_kek=True)
    with live_server(create_app(settings)) as url:
        yield Portal(url, settings)


@pytest.fixture
def open_page(browser: Browser, portal: Portal) -> Iterator[Callable[[], Page]]:
    """A factory of pages, each in its own browser context: one person, one cookie jar."""
    contexts = []

    def open_() -> Page:
        context = browser.new_context(base_url=portal.url, viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
