"""Fixtures for whole-system tests: real processes on loopback, every one of them ended at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.harness import AadsysFactory, AadsysProcess, OrgCredentials, PortalProcess, running_portal
from tests.e2e.mitm import ChannelProxy

ORGANISATIONS = ("PEC", "OMIS")


@pytest.fixture
def e2e_dir(tmp_path: Path) -> Path:
    """Holds the data dir (and log) of every process of one test."""
    path = tmp_path / "e2e"
    path.mkdir()
    return path


@pytest.fixture
def portal(e2e_dir: Path) -> Iterator[PortalProcess]:
    """A serving ABM Portal of this test alone, where PEC and OMIS are registered (``portal.orgs["PEC"]``)."""
    with running_portal(e2e_dir / "portal", ORGANISATIONS) as process:
        yield process


@pytest.fixture
def aadsys_factory(e2e_dir: Path, request: pytest.FixtureRequest) -> Iterator[AadsysFactory]:
    """Makes initialised AAdSys processes; the portal is started only for one that is given credentials."""
    with ExitStack() as cleanup:  # runs every stop, even when one of them raises

        def make(name: str, org: str, base_iri: str, credentials: OrgCredentials | None,
                 database_url: str | None = None, env: Mapping[str, str] | None = None,
                 public_url: str | None = None) -> AadsysProcess:
            process = AadsysProcess(e2e_dir / name, env=env)
            cleanup.callback(process.stop)
            portal_url = request.getfixturevalue("portal").url if credentials else None
            process.init(org, base_iri, portal_url=portal_url, credentials=credentials,
                         database_url=database_url, public_url=public_url)
            return process

        yield make


@pytest.fixture(scope="module")
def module_aadsys_factory(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                          ) -> Iterator[AadsysFactory]:
    """As ``aadsys_factory``, for processes a whole module shares (tests that leave nothing behind that another
    test of the module could trip over); members of the module's ``portal``."""
    root = tmp_path_factory.mktemp("members")
    with ExitStack() as cleanup:

        def make(name: str, org: str, base_iri: str, credentials: OrgCredentials | None,
                 database_url: str | None = None, env: Mapping[str, str] | None = None,
                 public_url: str | None = None) -> AadsysProcess:
            process = AadsysProcess(root / name, env=env)
            cleanup.callback(process.stop)
            portal_url = request.getfixturevalue("portal").url if credentials else None
            process.init(org, base_iri, portal_url=portal_url, credentials=credentials,
                         database_url=database_url, public_url=public_url)
            return process

        yield make


@pytest.fixture
def channel_proxy() -> Iterator[Callable[[str], ChannelProxy]]:
    """Makes running :class:`ChannelProxy` instances in front of an upstream URL; all stopped at teardown."""
    with ExitStack() as cleanup:

        def make(upstream: str) -> ChannelProxy:
            return cleanup.enter_context(ChannelProxy(upstream))

        yield make
