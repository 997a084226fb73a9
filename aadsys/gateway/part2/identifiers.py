"""Identifiers in paths and queries are base64url-encoded UTF-8 (IDTA AAS Part 2 v3.0 §12.2)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from aadsys.gateway.part2.results import AasApiError


def decode_id(value: str, parameter: str) -> str:
    """Padding is optional, as most clients leave it off."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise AasApiError(400, f"{parameter} '{value}' is not base64url-encoded UTF-8; encode the identifier "
                               "with base64url (RFC 4648 §5)") from None
    if not text or "+" in value or "/" in value:
        raise AasApiError(400, f"{parameter} '{value}' is not base64url-encoded; use '-' and '_', not '+' and '/'")
    return text


def decode_json_id(value: str, parameter: str) -> Any:
    text = decode_id(value, parameter)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise AasApiError(400, f"{parameter} must be base64url-encoded JSON") from None


def encode_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
