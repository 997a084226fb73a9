"""Reading request bodies within limits, and choosing their format by Content-Type."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from aadsys.gateway.file_links import FILES_ROUTE
from aadsys.gateway.problems import ProblemError

AAS_JSON = "application/aas+json"
BUSINESS_JSON = "application/json"


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing early (413) once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, "body-too-large", "Request body too large",
                        f"the body exceeds {limit} bytes; send a smaller record, and large content as a file "
                        f"(POST {FILES_ROUTE})", limit=limit)


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
