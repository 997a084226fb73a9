"""The abm-portal CLI as an operator uses it: init, org create, token create, keys rotate, serve."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from abm_portal.cli import app
from abm_portal.config import Settings
from abm_portal.db import Database
from abm_portal.services import clients, personal_tokens, signing_keys, users
from tests.support.live_server import loopback_get
from tests.support.postgres import free_port

runner = CliRunner()
PASSWORD = "correct horse battery staple"


def _password_file(tmp_path: Path, password: str = PASSWORD) -> str:
    path = tmp_path / f"password-{len(list(tmp_path.glob('password-*')))}"
    path.write_text(password + "\n")
    return str(path)


def test_init_org_create_and_token_create_print_working_credentials_last(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "portal"
    r = runner.invoke(app, ["init", "--data-dir", str(data), "--database-url", database_url,
                            "--operator-email", "operator@portal.example",
                            "--operator-password-file", _password_file(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "portal operator operator@portal.example created" in r.stdout
    again = runner.invoke(app, ["init", "--data-dir", str(data), "--operator-email", "operator@portal.example",
                                "--operator-password-file", _password_file(tmp_path)])
    assert again.exit_code == 0 and "exists already" in again.stdout, again.output

    r = runner.invoke(app, ["org", "create", "OMIS Bottling", "--admin-email", "admin@omis.example",
                            "--admin-password-file", _password_file(tmp_path), "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(created) == {"org_id", "client_id", "client_secret"}

    r = runner.invoke(app, ["token", "create", "--user", "admin@omis.example", "--name", "approvals",
                            "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]

    database = Database(Settings(data_dir=data).resolved_database_url)  # portal.toml names the database
    try:
        with database.session() as db:
            assert clients.authenticate_client(db, created["client_id"], created["client_secret"]).id == \
                created["org_id"]
            actor = personal_tokens.actor_for_token(db, token)
            assert (actor.name, actor.org_id, actor.role) == ("admin@omis.example", created["org_id"], "org_admin")
            assert users.authenticate(db, "operator@portal.example", PASSWORD).role == "portal_operator"
    finally:
        database.dispose()


def test_bad_input_ends_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    data = str(tmp_path / "portal")
    assert runner.invoke(app, ["init", "--data-dir", data]).exit_code == 0
    cases = [
        (["org", "create", "PEC", "--admin-email", "a@pec.example", "--data-dir", data], 2, "--admin-password-file"),
        (["org", "create", "PEC", "--admin-email", "a@pec.example", "--admin-password-file",
          str(tmp_path / "missing"), "--data-dir", data], 2, "cannot read"),
        (["org", "create", "PEC", "--admin-email", "a@pec.example", "--admin-password-file",
          _password_file(tmp_path, "short"), "--data-dir", data], 1, "at least 12 characters"),
        (["org", "create", "PEC", "--admin-email", "not-an-address", "--admin-password-file",
          _password_file(tmp_path), "--data-dir", data], 1, "not an email address"),
        (["token", "create", "--user", "nobody@pec.example", "--data-dir", data], 1, "no account"),
        (["init", "--data-dir", data, "--public-url", "portal.example"], 2, "public_url"),
        (["token", "create", "--user", "a@pec.example", "--data-dir", str(tmp_path / "nope")], 2,
         f"the data directory {tmp_path / 'nope'} does not exist"),
    ]
    for args, code, says in cases:
        r = runner.invoke(app, args)
        assert (r.exit_code, says in r.output, "Traceback" in r.output) == (code, True, False), (args, r.output)
    ok = ["org", "create", "PEC", "--admin-email", "a@pec.example", "--admin-password-file", _password_file(tmp_path),
          "--data-dir", data]
    assert runner.invoke(app, ok).exit_code == 0
    again = runner.invoke(app, [*ok[:3], "--admin-email", "b@pec.example", *ok[5:]])
    assert again.exit_code == 1 and "registered already" in again.output


def test_keys_rotate_reads_the_data_dir_from_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "portal"
    assert runner.invoke(app, ["init", "--data-dir", str(data)]).exit_code == 0
    r = runner.invoke(app, ["keys", "rotate"], env={"ABM_PORTAL_DATA_DIR": str(data)})
    assert r.exit_code == 0, r.output
    settings = Settings(data_dir=data)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as db:
            published = [k.kid for k in signing_keys.published_keys(db, settings)]
    finally:
        database.dispose()
    assert len(published) == 2 and f"new signing key {published[0]}" in r.stdout


def test_serve_runs_the_portal_with_api_docs_and_pages(tmp_path: Path) -> None:
    data = tmp_path / "portal"
    assert runner.invoke(app, ["init", "--data-dir", str(data)]).exit_code == 0  # makes the key-encryption key
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "abm_portal", "serve", "--data-dir", str(data), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = loopback_get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "abm-portal serve did not come up"
                time.sleep(0.2)
        assert health.json() == {"status": "ok"}
        assert loopback_get(f"{base}/docs").status_code == 200
        assert loopback_get(f"{base}/login").status_code == 200
        assert len(loopback_get(f"{base}/.well-known/jwks.json").json()["keys"]) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
