"""The portal's signing keys are encrypted at rest with a key-encryption key (KEK) kept outside the database."""

from __future__ import annotations

import base64
import stat
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from joserfc.jwk import ECKey
from sqlmodel import select
from typer.testing import CliRunner

from abm_portal.cli import app, prepare
from abm_portal.config import KEK_FILE_NAME, Settings
from abm_portal.db import Database, migrate
from abm_portal.models import AuditEntry, SigningKey
from abm_portal.services import key_encryption, signed_tokens, signing_keys

runner = CliRunner()


def _stored_keys(settings: Settings) -> dict[str, str]:
    engine = sa.create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT kid, encrypted_private_key FROM signing_keys")).all())
    finally:
        engine.dispose()


def _init(data: Path, database_url: str, env: dict[str, str] | None = None) -> Settings:
    r = runner.invoke(app, ["init", "--data-dir", str(data), "--database-url", database_url], env=env)
    assert r.exit_code == 0, r.output
    return Settings(data_dir=data)


def test_init_makes_a_private_kek_file_and_the_key_column_holds_no_plaintext_pem(tmp_path: Path,
                                                                                 database_url: str) -> None:
    data = tmp_path / "portal"
    settings = _init(data, database_url)
    kek_file = data / KEK_FILE_NAME
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert len(base64.urlsafe_b64decode(kek_file.read_text().strip() + "=")) == 32
    kek = kek_file.read_text()

    stored = _stored_keys(settings)
    assert len(stored) == 1
    (kid, value), = stored.items()
    assert "BEGIN" not in value and "PRIVATE KEY" not in value and value.startswith("aes256gcm:")
    pem = key_encryption.unseal(key_encryption.kek_of(settings), kid, value)
    assert ECKey.import_key(pem).thumbprint() == kid

    again = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert again.exit_code == 0 and "key-encryption key made" not in again.output, again.output
    assert kek_file.read_text() == kek  # never overwritten


def test_start_up_without_the_kek_fails_and_says_what_to_do(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "portal"
    _init(data, database_url)
    (data / KEK_FILE_NAME).rename(tmp_path / "kek-moved-away")

    r = runner.invoke(app, ["serve", "--data-dir", str(data)])
    assert r.exit_code == 1
    message = " ".join(r.output.split())
    assert "No key-encryption key" in message and "abm-portal init" in message and "ABM_PORTAL_KEK_FILE" in message

    moved = runner.invoke(app, ["keys", "rotate", "--data-dir", str(data)],
                          env={"ABM_PORTAL_KEK_FILE": str(tmp_path / "kek-moved-away")})
    assert moved.exit_code == 0, moved.output  # the KEK file may live anywhere the setting names


def test_start_up_with_a_wrong_kek_fails_and_says_what_to_do(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "portal"
    _init(data, database_url)
    other = base64.urlsafe_b64encode(bytes(range(32))).decode()

    r = runner.invoke(app, ["serve", "--data-dir", str(data)], env={"ABM_PORTAL_KEK": other})
    assert r.exit_code == 1
    message = " ".join(r.output.split())
    assert "does not open signing key" in message and "ABM_PORTAL_KEK_FILE" in message, message

    garbled = runner.invoke(app, ["serve", "--data-dir", str(data)], env={"ABM_PORTAL_KEK": "not a key"})
    assert garbled.exit_code == 1 and "base64url of 32 bytes" in " ".join(garbled.output.split())


def test_plaintext_keys_of_an_older_database_are_encrypted_on_the_first_start_with_the_kek(
        tmp_path: Path, database_url: str) -> None:
    migrate(database_url, "0003")  # before encryption at rest: the column holds the PEM itself
    old = ECKey.generate_key("P-256", private=True)
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO signing_keys (kid, algorithm, private_key_pem, created_at) "
                                 "VALUES (:kid, 'ES256', :pem, CURRENT_TIMESTAMP)"),
                         {"kid": old.thumbprint(), "pem": old.as_pem(private=True).decode()})
    finally:
        engine.dispose()

    settings = Settings(data_dir=tmp_path / "portal", database_url=database_url)
    assert prepare(settings, make_kek=True) == tmp_path / "portal" / KEK_FILE_NAME

    stored = _stored_keys(settings)
    assert list(stored) == [old.thumbprint()] and stored[old.thumbprint()].startswith("aes256gcm:")
    database = Database(database_url)
    try:
        with database.session() as db:
            key = db.get(SigningKey, old.thumbprint())
            assert key is not None
            assert signing_keys.jwk_of(key, settings).thumbprint() == old.thumbprint()
            token = signed_tokens.sign(db, settings, typ="at+jwt", claims={}, audience="a",
                                       lifetime_end=key.created_at + timedelta(days=1))
            actions = db.exec(select(AuditEntry.action)).all()
        assert "signing_key.encrypted" in actions
        assert token.count(".") == 2
    finally:
        database.dispose()
    prepare(settings)  # again: nothing left to encrypt, the KEK opens every key
    assert _stored_keys(settings) == stored


def test_rotation_seals_the_new_key_and_both_stay_usable(tmp_path: Path, database_url: str) -> None:
    settings = _init(tmp_path / "portal", database_url)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as db:
            old_kid = signing_keys.current_key(db, settings).kid
            new = signing_keys.rotate(db, settings, "test")
            published = signing_keys.key_set(db, settings)
        assert {k.kid for k in published.keys} == {old_kid, new.kid}
    finally:
        database.dispose()
    assert all(v.startswith("aes256gcm:") for v in _stored_keys(settings).values())
