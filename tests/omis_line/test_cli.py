"""``python -m omis_line init`` and ``serve`` as an operator (and the lead's process driver) runs them."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from aadsys.processes import ServerProcess
from omis_line.config import load_settings
from tests.support.live_server import loopback_get


class LineProcess(ServerProcess):
    module = "omis_line"


def test_init_writes_settings_keeps_secrets_private_and_migrates_then_serve_answers(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("aak_secret_key\n")
    (tmp_path / "password").write_text("op pass\n")
    line = LineProcess(tmp_path / "line")
    line.data_dir.mkdir()

    done = line.cli("init", "--aadsys-url", "http://127.0.0.1:9", "--api-key-file", str(tmp_path / "key"),
                    "--operator-password-file", str(tmp_path / "password"), "--partner", "acme")
    assert done.returncode == 0, done.stderr

    toml = tomllib.loads((line.data_dir / "omis_line.toml").read_text())
    assert toml["aadsys_url"] == "http://127.0.0.1:9" and toml["partner"] == "acme"
    assert "aak_secret_key" not in (line.data_dir / "omis_line.toml").read_text()
    key_file, hash_file = line.data_dir / "aadsys-api-key", line.data_dir / "operator-password.argon2"
    assert key_file.read_text().strip() == "aak_secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(hash_file.stat().st_mode) == 0o600
    assert hash_file.read_text().startswith("$argon2") and "op pass" not in hash_file.read_text()
    tables = inspect(create_engine(f"sqlite:///{line.data_dir / 'omis_line.db'}")).get_table_names()
    assert {"sales_orders", "production_orders", "bottles", "trace_events", "status_revisions"} <= set(tables)

    line.start()
    try:
        health = loopback_get(f"{line.url}/healthz")
        orders = loopback_get(f"{line.url}/api/orders", auth=("operator", "op pass"))
    finally:
        line.stop()
    assert health.json() == {"status": "ok"}
    assert orders.status_code == 200 and orders.json() == {"items": []}


def test_init_with_an_empty_password_file_says_what_to_fix(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("aak\n")
    (tmp_path / "password").write_text("\n")
    line = LineProcess(tmp_path / "line")

    done = line.cli("init", "--aadsys-url", "http://127.0.0.1:9", "--api-key-file", str(tmp_path / "key"),
                    "--operator-password-file", str(tmp_path / "password"))

    assert done.returncode == 2
    assert "--operator-password-file" in done.stderr and "empty" in done.stderr


def test_settings_precedence_is_arguments_then_environment_then_toml(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "omis_line.toml").write_text('station_seconds = "1,2"\nfailure_policy = "fail"\nseed = 5\n'
                                             'failure_probability = { capping = 0.1 }\n')
    monkeypatch.setenv("OMIS_LINE_FAILURE_POLICY", "rework")
    monkeypatch.setenv("OMIS_LINE_SEED", "6")

    from_file = load_settings(data_dir=tmp_path)
    overridden = load_settings(data_dir=tmp_path, seed=9)
    monkeypatch.setenv("OMIS_LINE_FAILURE_PROBABILITY", '{"printing": 0.25}')
    from_env_json = load_settings(data_dir=tmp_path)

    assert from_file.station_range == (1.0, 2.0) and from_file.ideal_cycle_seconds == 1.5
    assert (from_file.failure_policy, from_file.seed) == ("rework", 6)
    assert from_file.failure_chance("capping") == 0.1 and from_file.failure_chance("mixing") == 0.0
    assert overridden.seed == 9
    assert from_env_json.failure_chance("printing") == 0.25


@pytest.mark.parametrize(("name", "value"), [("station_seconds", "2,1"), ("station_seconds", "fast"),
                                             ("failure_probability", '{"bottling": 0.1}'),
                                             ("failure_probability", "1.5"), ("failure_policy", "retry")])
def test_bad_line_settings_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                       value: str) -> None:
    monkeypatch.setenv(f"OMIS_LINE_{name.upper()}", value)

    with pytest.raises(ValueError, match=name):
        load_settings(data_dir=tmp_path)
