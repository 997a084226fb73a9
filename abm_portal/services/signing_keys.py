"""The portal's signing keys and their JWKS (RFC 7517), published at ``/.well-known/jwks.json``.

Algorithm: ES256 (ECDSA on P-256 with SHA-256, RFC 7518 §3.4), marked "Recommended+" by JWA, so every JOSE
library verifies it without opting in (joserfc, the JOSE library of authlib, treats EdDSA as not
recommended). The key id (``kid``) is the key's RFC 7638 thumbprint.

Rotation: a new key signs from the moment it is made; the retired one stays in the JWKS for as long as a
token it signed may still be valid (the longest token lifetime plus the clock skew), so connectors that
cached a grant keep verifying it offline. Keys that no token can need any more drop out of the JWKS.

At rest: private keys are sealed with the key-encryption key (``key_encryption``), never stored as plaintext.
Keys of a database from before that are encrypted on the next start with the KEK (``encrypt_plaintext_keys``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from joserfc.jwk import ECKey, KeySet
from sqlmodel import Session, col, or_, select

from abm_portal.clock import utcnow
from abm_portal.config import Settings
from abm_portal.db import one_at_a_time
from abm_portal.models import SigningKey
from abm_portal.services import audit, key_encryption

ALGORITHM = "ES256"
CURVE = "P-256"
LOCK = "signing-keys"


def current_key(db: Session, settings: Settings) -> SigningKey:
    """The key that signs now; made (and committed) on first use when ``abm-portal init`` has not made one.

    Every worker reads the key from the database, so all sign with the same one. Workers that find none at the
    same moment queue on one advisory lock and look again: only the first makes a key.
    """
    key = _newest_active(db)
    if key is None:
        one_at_a_time(db, LOCK)
        key = _newest_active(db)
        if key is None:
            key = _new_key(db, settings, audit.SYSTEM_ACTOR, "signing_key.created")
            db.commit()
    return key


def _newest_active(db: Session) -> SigningKey | None:
    return db.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None))
                   .order_by(col(SigningKey.created_at).desc())
                   .execution_options(populate_existing=True)).first()


def encrypt_plaintext_keys(db: Session, settings: Settings) -> int:
    """Seal every key still stored as plaintext PEM (a database from before encryption at rest); how many."""
    kek = key_encryption.kek_of(settings)
    plaintext = [k for k in db.exec(select(SigningKey).with_for_update()).all()
                 if not key_encryption.is_sealed(k.encrypted_private_key)]
    for key in plaintext:
        key.encrypted_private_key = key_encryption.seal(kek, key.kid, key.encrypted_private_key)
        db.add(key)
        audit.record(db, audit.SYSTEM_ACTOR, "signing_key.encrypted", f"signing key {key.kid}", org_id=None,
                     before="plaintext", after="encrypted")
    db.commit()
    return len(plaintext)


def check_kek_opens_keys(db: Session, settings: Settings) -> None:
    """``KeyEncryptionFailed`` at start-up, not at the first token, when the KEK does not open the stored keys."""
    kek = key_encryption.kek_of(settings)
    for key in db.exec(select(SigningKey)).all():
        key_encryption.unseal(kek, key.kid, key.encrypted_private_key)


def rotate(db: Session, settings: Settings, actor: str) -> SigningKey:
    """Retire the current key(s) and sign with a new one from now on."""
    one_at_a_time(db, LOCK)  # two rotations at once would leave two current keys: one after the other
    now = utcnow()
    for old in db.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None))).all():
        old.retired_at = now
        db.add(old)
        audit.record(db, actor, "signing_key.retired", f"signing key {old.kid}", org_id=None, before="active",
                     after="retired")
    key = _new_key(db, settings, actor, "signing_key.created")
    db.commit()
    return key


def _new_key(db: Session, settings: Settings, actor: str, action: str) -> SigningKey:
    jwk = ECKey.generate_key(CURVE, private=True)
    kid = jwk.thumbprint()
    sealed = key_encryption.seal(key_encryption.kek_of(settings), kid, jwk.as_pem(private=True).decode())
    row = SigningKey(kid=kid, algorithm=ALGORITHM, encrypted_private_key=sealed)
    db.add(row)
    audit.record(db, actor, action, f"signing key {kid}", org_id=None, after="active")
    return row


def published_keys(db: Session, settings: Settings, now: datetime | None = None) -> Sequence[SigningKey]:
    """Keys a token may still be signed with: the current ones, and retired ones until their tokens expire."""
    keep_after = (now or utcnow()) - timedelta(seconds=settings.longest_token_lifetime_seconds
                                               + settings.clock_skew_seconds)
    return db.exec(select(SigningKey).where(or_(col(SigningKey.retired_at).is_(None),
                                                col(SigningKey.retired_at) > keep_after))
                   .order_by(col(SigningKey.created_at).desc())).all()


def jwk_of(key: SigningKey, settings: Settings) -> ECKey:
    """The key with its private part, as joserfc signs with it."""
    return _parsed(key.kid, key.algorithm, key.encrypted_private_key, key_encryption.kek_of(settings))


@lru_cache(maxsize=32)
def _parsed(kid: str, algorithm: str, encrypted_private_key: str, kek: bytes) -> ECKey:
    # Every request with an access token needs the published keys; decrypt and parse each once per process.
    pem = key_encryption.unseal(kek, kid, encrypted_private_key)
    return ECKey.import_key(pem, parameters={"kid": kid, "alg": algorithm, "use": "sig"})


def key_set(db: Session, settings: Settings) -> KeySet:
    """What tokens are verified against: exactly the published keys."""
    return KeySet([jwk_of(k, settings) for k in published_keys(db, settings)])


def jwks(db: Session, settings: Settings) -> dict[str, Any]:
    """The JWK Set document (public parts only)."""
    return {"keys": [jwk_of(k, settings).as_dict(private=False) for k in published_keys(db, settings)]}
