"""Extensions plug into an AAdSys without ``aadsys`` importing them; the connector is one, and runs only for a
portal member."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
from typer.testing import CliRunner

from aadsys.cli import app as cli
from aadsys.cli import prepare
from aadsys.config import Settings, load_settings
from aadsys.core import api_keys
from aadsys.extensions import discover
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from tests.support.live_server import live_server, loopback_client

runner = CliRunner()


def _client(url: str) -> httpx.Client:
    """httpx's default 5 s read timeout is too short for a loaded two-core machine running the whole suite."""
    return loopback_client(base_url=url)


def test_the_connector_is_found_through_its_entry_point() -> None:
    assert [extension.name for extension in discover()] == ["connector"]


def test_an_aadsys_without_portal_settings_runs_without_a_connector(settings: Settings) -> None:
    with live_server(create_app(settings)) as url, _client(url) as api:
        assert api.get("/healthz").status_code == 200
        assert api.get("/connector/v1/status").status_code == 404
        assert api.post("/connector/v1/challenges").status_code == 404


def test_a_portal_member_serves_the_connector_whose_status_needs_a_read_key(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("abms_not-a-real-secret\n")
    member = Settings(data_dir=tmp_path / "omis", org="omis", base_iri="https://omis.example",
                      portal_url="http://127.0.0.1:9", client_id="c-1", client_secret_file=secret)
    prepare(member)
    ctx = AadsysContext.build(member)
    key = api_keys.create_key(ctx.db, "ops", ["read"])
    try:
        with live_server(create_app(member, context=ctx)) as url, _client(url) as api:
            assert api.get("/connector/v1/status").status_code == 401
            status = api.get("/connector/v1/status", headers={"X-API-Key": key})
            assert status.status_code == 200
            assert status.json()["org"] == "omis" and status.json()["subscriptions"] == []
            refused = api.post("/connector/v1/challenges", headers={"Authorization": "Bearer not.a.grant"})
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "no-trust"  # it never reached the portal to learn its keys
    finally:
        ctx.db.dispose()
    keys = tmp_path / "omis" / "connector"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in keys.glob("*.pem")} == {
        "signing-key.pem": 0o600, "encryption-key.pem": 0o600}


def test_init_with_a_portal_keeps_the_client_secret_owner_only_and_the_settings_in_the_file(tmp_path: Path) -> None:
    given = tmp_path / "given-secret"
    given.write_text("abms_secret\n")
    data = tmp_path / "pec"
    r = runner.invoke(cli, ["init", "--data-dir", str(data), "--org", "pec", "--base-iri", "https://pec.example",
                            "--portal-url", "https://portal.example/", "--client-id", "abc",
                            "--client-secret-file", str(given), "--public-url", "https://pec.example:8443"])
    assert r.exit_code == 0, r.output
    settings = load_settings(data_dir=data)
    assert (settings.portal_url, settings.client_id, settings.public_url) == (
        "https://portal.example", "abc", "https://pec.example:8443")
    assert settings.client_secret_file is not None and settings.client_secret_file.read_text() == "abms_secret\n"
    assert stat.S_IMODE(settings.client_secret_file.stat().st_mode) == 0o600


def test_init_with_a_portal_but_no_credentials_says_what_is_missing(tmp_path: Path) -> None:
    r = runner.invoke(cli, ["init", "--data-dir", str(tmp_path), "--org", "pec", "--base-iri", "https://pec.example",
                            "--portal-url", "https://portal.example"])
    assert r.exit_code == 2 and "--client-id" in r.output and "--client-secret-file" in r.output
