"""One portal, one shop and one line for the whole session, each with data in it (``sites.py``), shared by the
page tests: started once, because what these tests look at is pages, not the servers' start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pages.sites import LineSite, PortalSite, ShopSite, running_line, running_portal, running_shop


@pytest.fixture(scope="session")
def portal_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalSite]:
    with running_portal(tmp_path_factory.mktemp("portal")) as site:
        yield site


@pytest.fixture(scope="session")
def shop_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopSite]:
    with running_shop(tmp_path_factory.mktemp("shop") / "data") as site:
        yield site


@pytest.fixture(scope="session")
def line_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LineSite]:
    with running_line(tmp_path_factory.mktemp("line") / "data") as site:
        yield site
