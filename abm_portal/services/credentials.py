"""Secrets at rest: argon2id for passwords people choose, SHA-256 for the random secrets the portal makes.

A password is guessable, so it gets a slow, memory-hard hash (argon2id, RFC 9106). Client secrets and
personal tokens are 256 random bits the portal generated: no one can guess them, so a fast SHA-256
digest is safe at rest, and it lets the portal find a token by its digest in one indexed lookup.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs as much time as a wrong password. Made
    at first use, not at import: a hash is some 0.3 s of CPU, which every CLI command paid."""
    return _hasher.hash(secrets.token_urlsafe(16))

CLIENT_ID_PREFIX = "abmc_"
CLIENT_SECRET_PREFIX = "abms_"
PERSONAL_TOKEN_PREFIX = "abmpat_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A random secret with a prefix that says what it is (and lets secret scanners find leaked ones)."""
    return prefix + secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_match(stored: str, secret: str) -> bool:
    return hmac.compare_digest(stored, digest(secret))
