"""Identifiers in paths and queries are base64url-encoded UTF-8 (IDTA AAS Part 2 v3.0 §12.2)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Path, Query
from pydantic import StringConstraints

from aadsys.gateway.part2.patterns import BASE64URL
from aadsys.gateway.part2.results import AasApiError
from aas_models import base64url

_ENCODED = "base64url-encoded (RFC 4648 §5, padding optional)"

AasIdentifier = Annotated[str, Path(min_length=1, pattern=BASE64URL, description=f"the shell's id, {_ENCODED}")]
SubmodelIdentifier = Annotated[str, Path(min_length=1, pattern=BASE64URL,
                                         description=f"the submodel's id, {_ENCODED}")]
EncodedId = Annotated[str, StringConstraints(min_length=1, pattern=BASE64URL)]
EncodedIds = Annotated[list[EncodedId] | None, Query(description=f"identifiers, each {_ENCODED}; repeat the "
                                                                   "parameter for more")]


def decode_id(value: str, parameter: str) -> str:
    """Padding is optional, as most clients leave it off.

    400 for what is not base64url at all; 404 for base64url that decodes to bytes that are not UTF-8 text (or
    hold NUL): no identifier is those bytes, so it names nothing here.
    """
    try:
        raw = base64url.decode(value)
    except ValueError:
        raise AasApiError(400, f"{parameter} '{value}' is not base64url-encoded UTF-8; encode the identifier "
                               "with base64url (RFC 4648 §5)") from None
    if not raw or "+" in value or "/" in value:
        raise AasApiError(400, f"{parameter} '{value}' is not base64url-encoded; use '-' and '_', not '+' and '/'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:  # no identifier is such bytes (and PostgreSQL text cannot hold NUL)
        raise AasApiError(404, f"{parameter} '{value}' decodes to bytes that are not UTF-8 text, so it names no "
                               "identifier here; encode the identifier's UTF-8 text with base64url")
    return text


def decode_json_id(value: str, parameter: str) -> Any:
    text = decode_id(value, parameter)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise AasApiError(400, f"{parameter} must be base64url-encoded JSON") from None


def encode_id(text: str) -> str:
    return base64url.encode_text(text)
