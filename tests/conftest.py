"""Suite-wide fixtures: real servers only (PostgreSQL cluster, uvicorn on loopback, Debian Chromium), and the ABM
Portal and the factory of AAdSys members that whole-system tests (``tests/e2e``) and the live scrape (``tests/deploy``)
share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.harness import AadsysFactory, PreparedAadsys, PreparedPortal, member_factory, running_portal
from tests.support.databases import AadsysTemplates
from tests.support.postgres import PostgresServer, start_postgres

if TYPE_CHECKING:
    from valuechain.scenario import Chain

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright; missing Chromium fails the test and names the package.

    One per module: Playwright's sync API keeps an asyncio loop running in the main thread while it is open, and
    an async test after it in the same process (``asyncio.run``, anyio) would find that loop running."""
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


FAST_LINE = {"OMIS_LINE_STATION_SECONDS": "0.05,0.15", "OMIS_LINE_FAILURE_PROBABILITY": "0"}
VALUE_CHAIN = pytest.StashKey["Chain"]()


@pytest.fixture(scope="session")
def value_chain(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The demo's value chain as ``make demo`` builds and bootstraps it (``valuechain.scenario``: the portal, PEC's
    and OMIS's AAdSys, the shop and the line as processes on free loopback ports, data in ``<tmp>/demo-data``),
    with a line that is fast and never fails a bottle. Organisations, data dirs and API keys are prepared
    in-process, as ``tests.e2e.harness`` prepares them (``tests/test_demo.py`` runs the demo's command lines).
    One for the session: ``tests/e2e/test_value_chain.py`` and ``tests/test_readme_examples.py`` share it. It
    stops after the last test that uses it (``pytest_runtest_teardown`` below), not at the end of the session."""
    from aadsys.processes import free_port
    from valuechain.scenario import Ports, bootstrap, build

    templates: AadsysTemplates = request.getfixturevalue("aadsys_templates")
    made = build(tmp_path_factory.mktemp("chain") / "demo-data", Ports(*(free_port() for _ in range(5))), FAST_LINE,
                 portal_driver=PreparedPortal, member_driver=partial(PreparedAadsys, templates=templates))
    request.config.stash[VALUE_CHAIN] = made
    try:
        bootstrap(made)
        yield made
    finally:
        made.stop()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stops the value chain once no test left to run uses it: its five idle processes hold some 600 MB and a tenth
    of a core. Stopping again at the end of the session is harmless. Its tests run in collection order, under xdist
    too (the modules that use it are one unit of work on one worker, ``SHARED_WORKER``): the chain stops after the
    last of them in the collection."""
    chain = item.config.stash.get(VALUE_CHAIN, None)
    if chain is None or "value_chain" not in item.fixturenames:
        return
    items = item.session.items
    if not any("value_chain" in later.fixturenames for later in items[items.index(item) + 1:]):
        chain.stop()


# Modules that must share a worker under xdist: those that use the one demo chain (a session fixture per worker).
SHARED_WORKER = {"tests/e2e/test_value_chain.py": "value_chain", "tests/test_readme_examples.py": "value_chain"}


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``make test`` runs ``-n 3 --dist loadscope``: the tests of one module go to one worker, so what the module's
    fixtures start is started once; the modules of ``SHARED_WORKER`` go to one worker together.

    The modules keep xdist's order (most tests first). Longest first, by measured seconds, was tried: it starts the
    CPU-bound modules (both contract runs, the thousand-order exchanges, the benchmarks) side by side on two cores,
    and the run took 29 minutes instead of 22, with waits timing out."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_WORKER.get(module, module)

    return ByModule(config, log)
