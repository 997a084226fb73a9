"""Fixtures for whole-system tests: real processes on loopback, every one of them ended at teardown.

One portal serves the whole session (each test registers organisations of its own there, under names of its
own); AAdSys processes are made per test, or per module where tests leave nothing behind for each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.exchange import Exchange, start_exchange
from tests.e2e.harness import AadsysFactory, Organisation, PreparedAadsys, PreparedPortal, running_portal, wait_for
from tests.e2e.mitm import ChannelProxy
from tests.support.databases import AadsysTemplates


@pytest.fixture
def e2e_dir(tmp_path: Path) -> Path:
    """Holds the data dir (and log) of every process of one test."""
    path = tmp_path / "e2e"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreparedPortal]:
    """One serving ABM Portal for the session: it costs seconds of imports to start."""
    with running_portal(tmp_path_factory.mktemp("portal") / "portal") as process:
        yield process


def _member_factory(root: Path, request: pytest.FixtureRequest, templates: AadsysTemplates,
                    cleanup: ExitStack) -> AadsysFactory:
    """Makes initialised AAdSys processes below ``root``, each stopped by ``cleanup``; members of the session's
    portal, which is started only for one that is given an organisation."""

    def make(name: str, org: str, base_iri: str, organisation: Organisation | None, *, postgresql: bool = False,
             env: Mapping[str, str] | None = None, public_url: str | None = None) -> PreparedAadsys:
        process = PreparedAadsys(root / name, templates, org=org, base_iri=base_iri, env=env)
        cleanup.callback(process.stop)
        portal: PreparedPortal | None = request.getfixturevalue("portal") if organisation else None
        process.init(portal=portal, organisation=organisation, public_url=public_url, postgresql=postgresql)
        return process

    return make


@pytest.fixture
def aadsys_factory(e2e_dir: Path, request: pytest.FixtureRequest, aadsys_templates: AadsysTemplates
                   ) -> Iterator[AadsysFactory]:
    """Makes AAdSys processes of this test alone."""
    with ExitStack() as cleanup:  # runs every stop, even when one of them raises
        yield _member_factory(e2e_dir, request, aadsys_templates, cleanup)


@pytest.fixture(scope="module")
def module_aadsys_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                          aadsys_templates: AadsysTemplates) -> Iterator[AadsysFactory]:
    """As ``aadsys_factory``, for processes a whole module shares (tests that leave nothing behind that another
    test of the module could trip over)."""
    with ExitStack() as cleanup:
        yield _member_factory(tmp_path_factory.mktemp("members"), request, aadsys_templates, cleanup)


@pytest.fixture
def exchange(portal: PreparedPortal, aadsys_factory: AadsysFactory) -> Exchange:
    """PEC and OMIS, initialised and serving, each registered at the session's portal under names of this test."""
    return start_exchange(portal, aadsys_factory)


@pytest.fixture
def channel_proxy() -> Iterator[Callable[[str], ChannelProxy]]:
    """Makes running :class:`ChannelProxy` instances in front of an upstream URL; all stopped at teardown."""
    with ExitStack() as cleanup:

        def make(upstream: str) -> ChannelProxy:
            return cleanup.enter_context(ChannelProxy(upstream))

        yield make


@pytest.fixture(scope="module")
def partners(portal: PreparedPortal, module_aadsys_factory: AadsysFactory) -> Exchange:
    """PEC and OMIS with both real-time subscriptions approved and both channels open: Sales Orders PEC → OMIS,
    Sales Order Status OMIS → PEC. Shared by a module's tests."""
    pair = start_exchange(portal, module_aadsys_factory)
    orders, statuses = pair.subscribe("sales-order"), pair.subscribe("sales-order-status")
    wait_for(lambda: pair.channel_open(orders), "the Sales Order channel to open", timeout=30)
    wait_for(lambda: pair.omis.channel_open(statuses), "the Sales Order Status channel to open", timeout=30)
    return pair
