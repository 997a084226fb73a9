"""The key-encryption key (KEK) that seals the portal's token signing keys at rest (AES-256-GCM).

Whoever reads the database (a backup, a replica, a dump) must not be able to sign tokens as the portal, so
each private key is stored encrypted under a KEK kept outside the database: ``ABM_PORTAL_KEK`` (base64url of
32 random bytes), else the file ``ABM_PORTAL_KEK_FILE``, else ``<data_dir>/signing-keys.kek``, which
``abm-portal init`` makes (mode 0600) when none is configured.

A sealed key is ``aes256gcm:`` + base64url(12-byte nonce ‖ ciphertext ‖ tag), with the key id as associated
data, so a sealed value copied to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from abm_portal.config import Settings
from abm_portal.errors import KeyEncryptionFailed

SEALED_PREFIX = "aes256gcm:"
PLAINTEXT_PREFIX = "-----BEGIN"
KEK_BYTES = 32
NONCE_BYTES = 12
_WHERE = ("set ABM_PORTAL_KEK_FILE to the file of the key-encryption key this portal was initialised with "
          "(or ABM_PORTAL_KEK to its contents)")


def kek_of(settings: Settings) -> bytes:
    """The configured KEK; ``KeyEncryptionFailed`` says what to do when there is none or it is malformed."""
    if settings.kek is not None:
        return _decoded(settings.kek.get_secret_value(), "ABM_PORTAL_KEK")
    return _kek_from_file(settings.resolved_kek_file, settings.kek_file is not None)


def has_kek(settings: Settings) -> bool:
    return settings.kek is not None or settings.resolved_kek_file.exists()


def create_kek_file(path: Path) -> Path:
    """A new random KEK in ``path``, readable by its owner only; never overwrites one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.urlsafe_b64encode(secrets.token_bytes(KEK_BYTES)).decode().rstrip("=") + "\n")
    return path


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def seal(kek: bytes, kid: str, private_key_pem: str) -> str:
    """``private_key_pem`` (or any secret text) sealed under the name ``kid``, which must be given to unseal it."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(kek).encrypt(nonce, private_key_pem.encode(), kid.encode())
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode()


def unseal(kek: bytes, kid: str, stored: str, what: str | None = None) -> str:
    """The PEM of signing key ``kid`` (or the secret ``what`` sealed under the name ``kid``); ``KeyEncryptionFailed``
    when this KEK does not open it."""
    if not is_sealed(stored):
        raise KeyEncryptionFailed(f"Signing key {kid} is not encrypted yet: run 'abm-portal init' or "
                                  "'abm-portal serve' with the key-encryption key, which encrypt it on start.")
    try:
        raw = base64.urlsafe_b64decode(stored.removeprefix(SEALED_PREFIX))
        return AESGCM(kek).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise KeyEncryptionFailed(f"The key-encryption key does not open {what or f'signing key {kid}'}: it is "
                                  f"not the one the keys were encrypted with; {_WHERE}.") from None


def _kek_from_file(path: Path, configured: bool) -> bytes:
    try:
        version = path.stat()
    except FileNotFoundError:
        named = "the file named by ABM_PORTAL_KEK_FILE" if configured else "the default file"
        raise KeyEncryptionFailed(
            f"No key-encryption key: {named} {path} does not exist. The portal keeps its signing keys encrypted; "
            f"run 'abm-portal init' to make a KEK file in the data directory, or {_WHERE}.") from None
    except OSError as exc:
        raise KeyEncryptionFailed(f"Cannot reach the key-encryption key file {path}: {exc.strerror}.") from None
    return _read_kek_file(path, version.st_ino, version.st_mtime_ns)


@lru_cache(maxsize=8)
def _read_kek_file(path: Path, _inode: int, _mtime_ns: int) -> bytes:
    # Every signed or verified token needs the KEK: read the file once per version of it, not per request.
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyEncryptionFailed(f"Cannot read the key-encryption key file {path}: {exc.strerror}; make it "
                                  "readable by the portal's user (and no one else: chmod 600).") from None
    return _decoded(text.strip(), f"the key-encryption key file {path}")


def _decoded(text: str, source: str) -> bytes:
    try:
        kek = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        kek = b""
    if len(kek) != KEK_BYTES:
        raise KeyEncryptionFailed(f"{source} does not hold a key-encryption key (base64url of {KEK_BYTES} bytes); "
                                  f"{_WHERE}, or run 'abm-portal init' where none is configured to make one.")
    return kek
