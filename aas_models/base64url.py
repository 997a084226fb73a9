"""Unpadded base64url (RFC 4648 §5): the one text form of identifiers in URLs, cursors, keys, nonces and salts.

Every package of ours may import ``aas_models``, so this is the one home of the encoding for all of them.
"""

from __future__ import annotations

import base64
import binascii


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_text(text: str) -> str:
    """The UTF-8 bytes of ``text``, encoded: how Part 2 puts an identifier in a URL."""
    return encode(text.encode())


def decode(text: str) -> bytes:
    """Bytes from base64url with or without padding; ``ValueError`` if it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None
