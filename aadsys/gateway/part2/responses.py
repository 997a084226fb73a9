"""JSON and binary responses of the Part 2 routes (orjson: these bodies are whole submodels)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

from aadsys.gateway.part2.results import JSON, AasApiError

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {JSON: {"example": {"messages": [
        {"code": str(status), "messageType": "Error", "text": text, "timestamp": "2026-11-22T10:15:00Z"}]}}}}
    for status, text in ((400, "Bad Request, e.g. an identifier that is not base64url"),
                         (401, "Unauthorized: no or an unknown X-API-Key"),
                         (403, "Forbidden: the key lacks the read scope"),
                         (404, "Not Found"))
}


def ok(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type=JSON)


def ok_raw(body: bytes) -> Response:
    """A body that is JSON bytes already."""
    return Response(body, media_type=JSON)


def not_found(what: str, identifier: str) -> AasApiError:
    return AasApiError(404, f"no {what} with id '{identifier}' here")


def content(data: bytes, media_type: str, name: str) -> Response:
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
