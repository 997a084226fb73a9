"""Setting up a shop: ``init`` on the command line, settings precedence, and a schema that matches the models."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from pec_shop.config import load_settings
from pec_shop.db import migrate
from pec_shop.models import ShopTable


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pec_shop", *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


def test_init_writes_settings_keeps_the_key_private_and_migrates(tmp_path: Path) -> None:
    given = tmp_path / "key.txt"
    given.write_text("aak_secret_value\n")
    data = tmp_path / "shop"

    done = _cli("init", "--data-dir", str(data), "--aadsys-url", "http://127.0.0.1:8080/",
                "--api-key-file", str(given), "--partner", "omis-2")

    assert done.returncode == 0, done.stderr
    config = (data / "pec_shop.toml").read_text()
    assert tomllib.loads(config) == {"aadsys_url": "http://127.0.0.1:8080", "partner": "omis-2"}
    assert "aak_secret_value" not in config
    key = data / "aadsys-api-key"
    assert key.read_text().strip() == "aak_secret_value" and key.stat().st_mode & 0o777 == 0o600
    settings = load_settings(data_dir=data)
    assert settings.read_api_key() == "aak_secret_value" and settings.partner == "omis-2"
    assert {"orders", "label_images", "status_revisions", "stream_positions"} <= _tables(data / "pec_shop.db")


def test_init_without_a_key_file_says_what_to_give(tmp_path: Path) -> None:
    done = _cli("init", "--data-dir", str(tmp_path / "shop"), "--aadsys-url", "http://127.0.0.1:8080")

    assert done.returncode == 2 and "--api-key-file" in done.stderr


def test_options_beat_environment_beat_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pec_shop.toml").write_text('aadsys_url = "https://toml:1"\npartner = "from-toml"\n'
                                             "retry_seconds = 7\n")
    monkeypatch.setenv("PEC_SHOP_AADSYS_URL", "https://env:2")
    monkeypatch.setenv("PEC_SHOP_MAX_IMAGE_BYTES", "1000")

    settings = load_settings(data_dir=tmp_path, partner="from-option")

    assert (settings.aadsys_url, settings.partner) == ("https://env:2", "from-option")
    assert (settings.retry_seconds, settings.max_image_bytes) == (7, 1000)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'pec_shop.db'}"


def test_migrated_schema_matches_the_models_and_migrating_again_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    migrate(url)
    migrate(url)

    engine = create_engine(url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), ShopTable.metadata)
    engine.dispose()
    assert differences == []


def _tables(path: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        engine.dispose()
