"""Errors of the AAS Part 2 API as the spec's ``Result`` body, raised anywhere under the router.

IDTA AAS Part 2 v3.0 §12 (Result, Message): ``{"messages": [{"code", "messageType", "text", "timestamp"}]}``.
The gateway's own API answers RFC 9457 problem+json; this router converts every error raised while
handling one of its requests, authentication in dependencies included, into a Result instead.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from aadsys.core.errors import InvalidCursor

JSON = "application/json"


class AasApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def result_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    message = {"code": str(status), "messageType": "Error", "text": text,
               "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    return Response(orjson.dumps({"messages": [message]}), status_code=status, media_type=JSON, headers=headers)


def _as_result(exc: Exception) -> Response | None:
    if isinstance(exc, AasApiError):
        return result_response(exc.status, exc.text)
    if isinstance(exc, RequestValidationError):
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return result_response(400, text or "invalid request")
    if isinstance(exc, InvalidCursor):
        return result_response(400, str(exc))
    if isinstance(exc, HTTPException):
        return result_response(exc.status_code, str(exc.detail), exc.headers)
    status, detail = getattr(exc, "status", None), getattr(exc, "detail", None)
    if isinstance(status, int) and isinstance(detail, str):  # the gateway's ProblemError, e.g. from auth
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if status == 401 else None
        return result_response(status, detail, headers)
    return None


class ResultRoute(APIRoute):
    """A route whose errors, from dependencies or the endpoint, leave as a Part 2 Result body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = _as_result(exc)
                if response is None:
                    raise
                return response

        return handle
