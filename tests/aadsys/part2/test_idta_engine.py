"""The IDTA's own AAS test engine (aas-test-engines) passes every operation of both SSP-002 repository profiles
against a real gateway holding all three asset types, a revised status and a File element (issue 9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aas_test_engines import api as engine
from aas_test_engines.config import CheckApiConfig
from aas_test_engines.http import HttpClient
from aas_test_engines.result import AasTestResult

from aadsys.cli import prepare
from aadsys.config import Settings
from tests.aadsys.conftest import Gateway, stock

SUITES = ("https://admin-shell.io/aas/API/3/0/AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
          "https://admin-shell.io/aas/API/3/0/SubmodelRepositoryServiceSpecification/SSP-002")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The engine (1.0.3) accepts --header but never sends it, so this server lets Part 2 reads through unkeyed.
    s = Settings(data_dir=tmp_path / "pec", org="pec", base_iri="https://pec.example", database_url=database_url,
                 event_poll_seconds=0.5, aas_anonymous_read=True)
    prepare(s)
    return s


@pytest.fixture
def stocked(gateway: Gateway) -> Iterator[Gateway]:
    stock(gateway)
    yield gateway


def _failures(result: AasTestResult) -> list[str]:
    """'operation / step / ... / reason' for each failed check of each operation the engine did not pass."""
    def reasons(node: AasTestResult, trail: str) -> list[str]:
        if node.ok():
            return []
        bad = [reasons(s, f"{trail} / {' '.join(s.message.split())}") for s in node.sub_results]
        return [r for rs in bad for r in rs] or [trail]

    return [reason for op in result.sub_results if not op.ok()
            for reason in reasons(op, op.message.removeprefix("Checking "))]


def test_both_ssp_002_repository_profiles_pass_every_operation(stocked: Gateway) -> None:
    """Run on both databases: the engine takes about 3 s a run."""
    failures, operations = [], 0
    for suite in SUITES:
        result, _ = engine.execute_tests(HttpClient(stocked.url + "/api/v3.0"), CheckApiConfig(suite=suite))
        operations += len([op for op in result.sub_results if op.message.startswith("Checking ")])
        failures += _failures(result)
    assert not failures, "\n".join(failures)
    assert operations == 48
