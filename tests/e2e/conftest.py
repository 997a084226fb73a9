"""Fixtures for whole-system tests: real processes on loopback, every one of them ended at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.exchange import Exchange, start_exchange
from tests.e2e.harness import AadsysFactory, AadsysProcess, OrgCredentials, PortalProcess, running_portal, wait_for
from tests.e2e.mitm import ChannelProxy


@pytest.fixture
def e2e_dir(tmp_path: Path) -> Path:
    """Holds the data dir (and log) of every process of one test."""
    path = tmp_path / "e2e"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalProcess]:
    """One serving ABM Portal per module, as it costs seconds of imports; tests register organisations of their
    own there (``start_exchange`` names them per test), so none trips over another's traces."""
    with running_portal(tmp_path_factory.mktemp("portal") / "portal", ()) as process:
        yield process


@pytest.fixture
def exchange(portal: PortalProcess, aadsys_factory: AadsysFactory) -> Exchange:
    """PEC and OMIS, initialised and serving, each registered at the module's portal under names of this test."""
    return start_exchange(portal, aadsys_factory)


def _member_factory(root: Path, request: pytest.FixtureRequest, cleanup: ExitStack) -> AadsysFactory:
    """Makes initialised AAdSys processes below ``root``, each stopped by ``cleanup``; they are members of the
    ``portal`` fixture's portal, which is started only for one that is given credentials."""

    def make(name: str, org: str, base_iri: str, credentials: OrgCredentials | None,
             database_url: str | None = None, env: Mapping[str, str] | None = None,
             public_url: str | None = None) -> AadsysProcess:
        process = AadsysProcess(root / name, env=env)
        cleanup.callback(process.stop)
        portal_url = request.getfixturevalue("portal").url if credentials else None
        process.init(org, base_iri, portal_url=portal_url, credentials=credentials,
                     database_url=database_url, public_url=public_url)
        return process

    return make


@pytest.fixture
def aadsys_factory(e2e_dir: Path, request: pytest.FixtureRequest) -> Iterator[AadsysFactory]:
    """Makes AAdSys processes of this test alone."""
    with ExitStack() as cleanup:  # runs every stop, even when one of them raises
        yield _member_factory(e2e_dir, request, cleanup)


@pytest.fixture(scope="module")
def module_aadsys_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                          ) -> Iterator[AadsysFactory]:
    """As ``aadsys_factory``, for processes a whole module shares (tests that leave nothing behind that another
    test of the module could trip over)."""
    with ExitStack() as cleanup:
        yield _member_factory(tmp_path_factory.mktemp("members"), request, cleanup)


@pytest.fixture
def channel_proxy() -> Iterator[Callable[[str], ChannelProxy]]:
    """Makes running :class:`ChannelProxy` instances in front of an upstream URL; all stopped at teardown."""
    with ExitStack() as cleanup:

        def make(upstream: str) -> ChannelProxy:
            return cleanup.enter_context(ChannelProxy(upstream))

        yield make


@pytest.fixture(scope="module")
def partners(portal: PortalProcess, module_aadsys_factory: AadsysFactory) -> Exchange:
    """PEC and OMIS with both real-time subscriptions approved and both channels open: Sales Orders PEC → OMIS,
    Sales Order Status OMIS → PEC. Shared by a module's tests (the value chain's shop and line run on it)."""
    pair = start_exchange(portal, module_aadsys_factory)
    orders, statuses = pair.subscribe("sales-order"), pair.subscribe("sales-order-status")
    wait_for(lambda: pair.channel_open(orders), 30, what="the Sales Order channel to open")
    wait_for(lambda: pair.subscription("omis", statuses).get("channel", {}).get("connected"), 30,
             what="the Sales Order Status channel to open")
    return pair
