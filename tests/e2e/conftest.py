"""Fixtures for whole-system tests: real processes on loopback, every one of them ended at teardown.

One portal serves the whole session (``portal``, in ``tests/conftest.py`` with ``module_aadsys_factory``: the live
scrape of ``tests/deploy`` shares them); each test registers organisations of its own there, under names of its own.
AAdSys processes are made per test, or per module where tests leave nothing behind for each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.exchange import Exchange, start_exchange
from tests.e2e.harness import AadsysFactory, PreparedPortal, member_factory, wait_for
from tests.e2e.mitm import ChannelProxy
from tests.support.databases import AadsysTemplates


@pytest.fixture
def e2e_dir(tmp_path: Path) -> Path:
    """Holds the data dir (and log) of every process of one test."""
    path = tmp_path / "e2e"
    path.mkdir()
    return path


@pytest.fixture
def aadsys_factory(e2e_dir: Path, request: pytest.FixtureRequest, aadsys_templates: AadsysTemplates
                   ) -> Iterator[AadsysFactory]:
    """Makes AAdSys processes of this test alone."""
    with ExitStack() as cleanup:  # runs every stop, even when one of them raises
        yield member_factory(e2e_dir, request, aadsys_templates, cleanup)


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
