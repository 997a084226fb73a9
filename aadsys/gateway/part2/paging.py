"""Cursor paging of IDTA AAS Part 2 v3.0 §12.4: ``{"paging_metadata": {"cursor": ...}, "result": [...]}``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Query, Response

from aadsys.gateway.part2.results import JSON, AasApiError
from aas_models import base64url
from aas_models.serialization import json_array

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Limit = Annotated[int | None, Query(ge=1, description=f"page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})")]
Cursor = Annotated[str | None, Query(description="paging_metadata.cursor of the previous page")]


def page_size(limit: int | None) -> int:
    return min(limit or DEFAULT_LIMIT, MAX_LIMIT)


def paged(result: list[Any], cursor: str | None) -> Response:
    metadata = {"cursor": cursor} if cursor else {}
    return Response(orjson.dumps({"paging_metadata": metadata, "result": result}), media_type=JSON)


def paged_raw(result: list[bytes], cursor: str | None) -> Response:
    """A page of items that are JSON bytes already: joined, never parsed."""
    metadata = orjson.dumps({"cursor": cursor} if cursor else {})
    return Response(json_array(result, b'{"paging_metadata":' + metadata + b',"result":[', b"]}"), media_type=JSON)


def slice_page(items: list[Any], limit: int | None, cursor: str | None) -> tuple[list[Any], str | None]:
    """A page of an in-memory list (elements of one submodel, references of one shell); the cursor is an offset."""
    start = _offset(cursor)
    size = page_size(limit)
    end = start + size
    return items[start:end], (_encode(end) if end < len(items) else None)


def _encode(offset: int) -> str:
    return base64url.encode_text(f"o{offset}")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64url.decode(cursor).decode()
        if raw[:1] != "o":
            raise ValueError(raw)
        return max(0, int(raw[1:]))
    except (ValueError, UnicodeDecodeError):
        raise AasApiError(400, "cursor is not one this server issued; start again without a cursor") from None


# A page of idShortPaths across submodels: where it stops is a store cursor (the start of a batch of submodels),
# the submodel's index in that batch and how many of its paths were served already.
PATH_BATCH = 20  # submodels read at a time; a cursor is only valid for this batch size
PATH_BATCHES = 50  # read at most this many batches for one page, so that one request's work stays bounded


def encode_position(store_cursor: str | None, index: int, skip: int) -> str:
    return base64url.encode(b"p" + orjson.dumps([store_cursor, index, skip]))


def decode_position(cursor: str | None) -> tuple[str | None, int, int]:
    if not cursor:
        return None, 0, 0
    try:
        raw = base64url.decode(cursor)
        store_cursor, index, skip = orjson.loads(raw[1:]) if raw[:1] == b"p" else (None, -1, -1)
        if not (store_cursor is None or isinstance(store_cursor, str)) or min(index, skip) < 0:
            raise ValueError(raw)
        return store_cursor, int(index), int(skip)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise AasApiError(400, "cursor is not one this server issued; start again without a cursor") from None
