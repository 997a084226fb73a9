"""A connector's public keys (DESIGN §4): Ed25519 for signing, X25519 for encryption.

Accepted as base64url of the raw 32 bytes (with or without padding) or as PEM (SubjectPublicKeyInfo);
always stored and handed out as unpadded base64url of the raw bytes, so partners read one form only.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from aas_models import base64url
from abm_portal.errors import ValidationFailed

RAW_KEY_BYTES = 32


def canonical_signing_key(value: str, field: str = "signingKey") -> str:
    """The Ed25519 public key in ``value`` as unpadded base64url; ``ValidationFailed`` if it is none."""
    return _canonical(value, field, "Ed25519", ed25519.Ed25519PublicKey)


def canonical_encryption_key(value: str, field: str = "encryptionKey") -> str:
    """The X25519 public key in ``value`` as unpadded base64url; ``ValidationFailed`` if it is none."""
    return _canonical(value, field, "X25519", x25519.X25519PublicKey)


def _canonical(value: str, field: str, kind: str,
               key_type: type[ed25519.Ed25519PublicKey] | type[x25519.X25519PublicKey]) -> str:
    text = value.strip()
    hint = (f"Give the connector's {kind} public key as base64url of its 32 raw bytes "
            f"(43 characters) or as a PEM 'PUBLIC KEY' block.")
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode())
        except (ValueError, TypeError):
            raise ValidationFailed(field, f"This PEM block is not a readable public key. {hint}") from None
        if not isinstance(key, key_type):
            raise ValidationFailed(field, f"This PEM block holds a {type(key).__name__.removeprefix('_')}, "
                                          f"not an {kind} key. {hint}")
        return base64url.encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    try:
        raw = base64url.decode(text)
    except ValueError:
        raise ValidationFailed(field, f"This is not base64url. {hint}") from None
    if len(raw) != RAW_KEY_BYTES:
        raise ValidationFailed(field, f"An {kind} public key has 32 bytes; this has {len(raw)}. {hint}")
    try:
        key_type.from_public_bytes(raw)
    except ValueError:
        raise ValidationFailed(field, f"These 32 bytes are not a valid {kind} public key. {hint}") from None
    return base64url.encode(raw)
