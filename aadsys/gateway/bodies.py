"""Reading request bodies within limits, and choosing their format by Content-Type."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from aadsys.gateway.file_links import FILES_ROUTE
from aadsys.gateway.problems import ProblemError

AAS_JSON = "application/aas+json"
BUSINESS_JSON = "application/json"
NDJSON = "application/x-ndjson"  # newline-delimited JSON (ndjson.org): one record per line, a bulk body
_WHITESPACE = b" \t\r\n"  # JSON's insignificant whitespace (RFC 8259 §2)


async def read_limited(request: Request, limit: int, *, array_limit: int | None = None, bulk: bool = False) -> bytes:
    """The whole body, refusing (413) once it passes ``limit`` bytes: by its Content-Length before it is read, and
    by counting as it streams in. With ``array_limit``, a body that opens with ``[`` (a JSON array of records, bulk)
    is held to that limit instead: the first bytes decide. ``bulk``: the body is a bulk body whatever it opens with.
    """
    declared_header = request.headers.get("content-length")
    declared = int(declared_header) if declared_header and declared_header.isdigit() else None
    cap = limit if array_limit is None else None  # None: not known until the first byte that is not whitespace
    if cap is not None and declared is not None and declared > cap:
        raise _too_large(cap, bulk=bulk)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks.append(chunk)
        if cap is None and array_limit is not None and (opening := chunk.lstrip(_WHITESPACE)[:1]):
            bulk = opening == b"["
            cap = array_limit if bulk else limit
            if declared is not None and declared > cap:
                raise _too_large(cap, bulk=bulk)
        if size > (cap if cap is not None else max(limit, array_limit or 0)):
            raise _too_large(cap or limit, bulk=bulk)
    return b"".join(chunks)


def _too_large(limit: int, *, bulk: bool = False) -> ProblemError:
    if bulk:
        return ProblemError(413, "body-too-large", "Request body too large",
                            f"the bulk body exceeds {limit} bytes; nothing was stored: send its records in smaller "
                            "requests", limit=limit)
    return ProblemError(413, "body-too-large", "Request body too large",
                        f"the body exceeds {limit} bytes; send a smaller record, and large content as a file "
                        f"(POST {FILES_ROUTE})", limit=limit)


def is_array(body: bytes) -> bool:
    """Whether a JSON body is an array (a bulk body of records), judged by its first byte that is not whitespace."""
    return body.lstrip(_WHITESPACE)[:1] == b"["


def media_type_of(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise ProblemError(400, "malformed-json", "Malformed JSON", "the request body is empty; send a JSON object")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "malformed-json", "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProblemError(400, "malformed-json", "Malformed JSON",
                           f"the body must be a JSON object, not a JSON {type(value).__name__}")
    return value
