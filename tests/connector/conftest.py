"""Fixtures for the connector's parts: real key pairs on disk, real AAdSys databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aadsys.gateway.context import AadsysContext
from connector._identity import Identity, load_or_create
from tests.connector.channel_pair import Pair, channel_pair
from tests.support.databases import AadsysTemplates

PEC_IRI = "https://pec.example"
OMIS_IRI = "https://omis.example"


@pytest.fixture
def provider(tmp_path: Path) -> Identity:
    """The provider connector's key pairs (PEC)."""
    return load_or_create(tmp_path / "provider-keys")


@pytest.fixture
def consumer(tmp_path: Path) -> Identity:
    """The consumer connector's key pairs (OMIS)."""
    return load_or_create(tmp_path / "consumer-keys")


@pytest.fixture
def stranger(tmp_path: Path) -> Identity:
    """Key pairs of a connector no subscription names."""
    return load_or_create(tmp_path / "stranger-keys")


@pytest.fixture
def pec(database_url: str, tmp_path: Path, aadsys_templates: AadsysTemplates) -> Iterator[AadsysContext]:
    """The provider's AAdSys, on each supported database (a copy of a migrated template)."""
    ctx = AadsysContext.build(aadsys_templates.settings(tmp_path / "pec", "pec", PEC_IRI,
                                                        postgresql=database_url.startswith("postgresql")))
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pec_sqlite(aadsys_templates: AadsysTemplates, tmp_path: Path) -> Iterator[AadsysContext]:
    """The provider's AAdSys (PEC) on a fresh copy of a migrated SQLite database."""
    ctx = AadsysContext.build(aadsys_templates.settings(tmp_path / "pec-sqlite", "pec", PEC_IRI))
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def omis_sqlite(aadsys_templates: AadsysTemplates, tmp_path: Path) -> Iterator[AadsysContext]:
    """The consumer's AAdSys (OMIS) on a fresh copy of a migrated SQLite database."""
    ctx = AadsysContext.build(aadsys_templates.settings(tmp_path / "omis", "omis", OMIS_IRI))
    yield ctx
    ctx.db.dispose()


@pytest.fixture
async def pair(pec_sqlite: AadsysContext, omis_sqlite: AadsysContext, tmp_path: Path,
               request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """A provider and a consumer in memory; a test tunes them with ``@pytest.mark.tuning(window=4, …)``."""
    marker = request.node.get_closest_marker("tuning")
    async with channel_pair(pec_sqlite, omis_sqlite, tmp_path, **(marker.kwargs if marker else {})) as joined:
        yield joined
