"""Unpadded base64url (RFC 4648 §5), the one text form of keys, nonces and salts on the wire."""

from __future__ import annotations

import base64
import binascii


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Bytes from base64url with or without padding; ``ValueError`` if it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None
