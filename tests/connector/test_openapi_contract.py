"""A gateway with the connector attached keeps an OpenAPI document that tells the truth: the connector's own
routes (challenge, one-time links, status) pass schemathesis ``--checks all`` too. The gateway's other operations
are the gateway's own run's (``tests/aadsys/test_openapi_contract.py``, both databases).

The portal is not running (its address is a closed loopback port): what is checked is the HTTP face, which
answers without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aadsys.cli import prepare
from aadsys.config import Settings
from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from connector import ConnectorExtension
from tests.support.contract import run_schemathesis
from tests.support.live_server import live_server

CONFIG = Path(__file__).parents[1] / "aadsys" / "schemathesis.toml"


@pytest.mark.timeout(300)  # the whole gateway's ~90 operations: on a loaded 2-core machine past the suite's 120 s
def test_schemathesis_finds_no_failure_with_the_connector_attached(tmp_path: Path) -> None:
    """SQLite only: the gateway's own run covers both databases; this one adds the connector's routes."""
    database_url = f"sqlite:///{tmp_path / 'pec.db'}"
    secret = tmp_path / "client-secret"
    secret.write_text("not-used")
    settings = Settings(data_dir=tmp_path / "pec", org="pec", base_iri="https://pec.example",
                        database_url=database_url, portal_url="http://127.0.0.1:9", client_id="pec-connector",
                        client_secret_file=secret)
    prepare(settings)
    ctx = AadsysContext.build(settings)
    key = api_keys.create_key(ctx.db, "erp", ["write"])
    app = create_app(settings, context=ctx, extensions=[ConnectorExtension()])
    try:
        with live_server(app) as url:
            document_paths = set(app.openapi()["paths"])
            assert {"/connector/v1/status"} <= document_paths
            report = run_schemathesis(f"{url}/openapi.json", {"X-API-Key": key}, config=CONFIG, examples=60,
                                      workdir=tmp_path, paths="^/connector/")
    finally:
        ctx.db.dispose()
    print(report.summary())
    assert report.failures == [] and report.errors == [], report.summary() + "\n" + report.output
    assert report.operations == 3 and report.generated >= 100, report.summary()
