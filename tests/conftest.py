"""Suite-wide fixtures: real servers only (PostgreSQL cluster, uvicorn on loopback, Debian Chromium), and the ABM
Portal and the factory of AAdSys members that whole-system tests (``tests/e2e``) and the live scrape (``tests/deploy``)
share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.harness import AadsysFactory, PreparedPortal, member_factory, running_portal
from tests.support.databases import AadsysTemplates
from tests.support.postgres import PostgresServer, start_postgres

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright; missing Chromium fails the test and names the package."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install the Debian package 'chromium' "
                    "(make services does this through scripts/ensure-system-packages.sh)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind the product supports: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture(scope="session")
def aadsys_templates(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> AadsysTemplates:
    """Migrated AAdSys databases, copied per test (``tests.support.databases``)."""
    return AadsysTemplates(tmp_path_factory.mktemp("templates"), lambda: request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreparedPortal]:
    """One serving ABM Portal for the session: it costs seconds of imports to start."""
    with running_portal(tmp_path_factory.mktemp("portal") / "portal") as process:
        yield process


@pytest.fixture(scope="module")
def module_aadsys_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                          aadsys_templates: AadsysTemplates) -> Iterator[AadsysFactory]:
    """Makes AAdSys processes a whole module shares (tests that leave nothing behind that another test of the
    module could trip over), members of the session's ``portal``; stopped at the module's end."""
    with ExitStack() as cleanup:
        yield member_factory(tmp_path_factory.mktemp("members"), request, aadsys_templates, cleanup)
