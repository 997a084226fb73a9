"""The connector's own key pairs (DESIGN §4): Ed25519 to sign, X25519 to agree keys.

Made on first start and kept in ``<data-dir>/connector/`` as PKCS #8 PEM files readable by their owner only
(directory 0700, files 0600). Private keys never leave the enterprise: only the public halves go to the portal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from aas_models import base64url
from connector.errors import ConfigurationError

K = TypeVar("K", Ed25519PrivateKey, X25519PrivateKey)
SIGNING_FILE = "signing-key.pem"
ENCRYPTION_FILE = "encryption-key.pem"


@dataclass(frozen=True)
class Identity:
    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey

    @property
    def signing_key(self) -> str:
        """The Ed25519 public key as unpadded base64url of its 32 raw bytes (the portal's form)."""
        return base64url.encode(self.signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @property
    def encryption_key(self) -> str:
        """The X25519 public key as unpadded base64url of its 32 raw bytes."""
        return base64url.encode(self.encryption.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message)


def load_or_create(directory: Path) -> Identity:
    """The key pairs kept in ``directory``; those missing are made now.

    The workers of ``aadsys serve --workers N`` (or processes sharing one data dir) start at once on a fresh data
    dir: the first key written is everyone's (``_save`` never replaces a key another process wrote), so they all
    sign and decrypt as the one identity the portal knows.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    signing_kind: type[Ed25519PrivateKey] = Ed25519PrivateKey  # type: ignore[type-abstract]
    encryption_kind: type[X25519PrivateKey] = X25519PrivateKey  # type: ignore[type-abstract]
    signing = _load(directory / SIGNING_FILE, signing_kind)
    if signing is None:
        signing = _save(directory / SIGNING_FILE, Ed25519PrivateKey.generate(), signing_kind)
    encryption = _load(directory / ENCRYPTION_FILE, encryption_kind)
    if encryption is None:
        encryption = _save(directory / ENCRYPTION_FILE, X25519PrivateKey.generate(), encryption_kind)
    return Identity(signing, encryption)


def signing_public_key(value: str) -> Ed25519PublicKey:
    """A partner's Ed25519 public key from its base64url form; ``ValueError`` if it is not one."""
    return Ed25519PublicKey.from_public_bytes(base64url.decode(value))


def _load(path: Path, kind: type[K]) -> K | None:
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a readable private key ({exc}); restore it from a backup, or "
                                 "remove it to make a new one (and re-register at the portal)") from None
    if not isinstance(key, kind):
        raise ConfigurationError(f"{path} holds a {type(key).__name__}, not an {kind.__name__}")
    return key


def _save(path: Path, key: K, kind: type[K]) -> K:
    """Write ``key`` to ``path`` unless a key is there already; returns the key at ``path`` then: ``key``, or the
    one another process wrote first. The file appears whole (linked from a file of this process's own)."""
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover of a crash would keep its own, perhaps looser, mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)  # fails if another process's key is there: that one stays
    except FileExistsError:
        found = _load(path, kind)
        assert found is not None  # linked whole, never removed
        return found
    finally:
        tmp.unlink(missing_ok=True)
    return key
