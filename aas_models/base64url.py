"""Unpadded base64url (RFC 4648 §5): the one text form of identifiers in URLs, cursors, keys, nonces and salts.

Every package of ours may import ``aas_models``, so this is the one home of the encoding for all of them.
"""

from __future__ import annotations

import base64
import binascii

_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode(data: bytes) -> str:
    # binascii and one translate, not base64.urlsafe_b64encode's three calls: a page of descriptors encodes 200 ids
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


def encode_text(text: str) -> str:
    """The UTF-8 bytes of ``text``, encoded: how Part 2 puts an identifier in a URL."""
    return encode(text.encode())


def decode(text: str) -> bytes:
    """Bytes from base64url with or without padding; ``ValueError`` if it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None
