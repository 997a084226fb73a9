"""The aadsys CLI as an operator uses it: init, keys, serve."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from aadsys.cli import app
from tests.support.live_server import loopback_get
from tests.support.postgres import free_port

runner = CliRunner()


def test_init_then_keys_create_prints_a_working_key_last(tmp_path: Path) -> None:
    data = tmp_path / "omis"
    r = runner.invoke(app, ["init", "--data-dir", str(data), "--org", "omis", "--base-iri", "https://omis.example"])
    assert r.exit_code == 0, r.output
    assert (data / "aadsys.toml").read_text().count("omis") == 2
    r = runner.invoke(app, ["keys", "create", "--data-dir", str(data), "--name", "mes", "--scope", "write"])
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("aak_")
    duplicate = runner.invoke(app, ["keys", "create", "--data-dir", str(data), "--name", "mes", "--scope", "read"])
    assert duplicate.exit_code == 2 and "exists" in duplicate.output
    bad_scope = runner.invoke(app, ["keys", "create", "--data-dir", str(data), "--name", "x", "--scope", "admin"])
    assert bad_scope.exit_code == 2 and "scope" in bad_scope.output


def test_init_refuses_an_invalid_base_iri(tmp_path: Path) -> None:
    r = runner.invoke(app, ["init", "--data-dir", str(tmp_path), "--org", "pec", "--base-iri", "pec.example"])
    assert r.exit_code == 2 and "base_iri" in r.output


def test_a_data_dir_that_holds_no_aadsys_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for data_dir, says in ((tmp_path / "nope", f"the data directory {tmp_path / 'nope'} does not exist"),
                           (empty, f"{empty} holds no AAdSys")):
        for args in (["keys", "list"], ["keys", "create", "--name", "x", "--scope", "read"]):
            r = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
            assert (r.exit_code, says in r.output, "Traceback" in r.output) == (2, True, False), r.output
    assert list(empty.iterdir()) == []  # no empty database made on the way


def test_serve_runs_a_gateway_that_answers_with_the_initialised_identity(tmp_path: Path) -> None:
    data = tmp_path / "pec"
    assert runner.invoke(app, ["init", "--data-dir", str(data), "--org", "pec",
                               "--base-iri", "https://pec.example"]).exit_code == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aadsys", "serve", "--data-dir", str(data), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = loopback_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "aadsys serve did not come up"
                time.sleep(0.2)
        assert r.json() == {"status": "ok", "org": "pec"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
