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

from aadsys.gateway.part2.patterns import HINTS

JSON = "application/json"


class AasApiError(Exception):
    def __init__(self, status: int, text: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(text)
        self.status, self.text, self.headers = status, text, headers


# The owner's errors as Part 2 errors: what its repository raises (a bad cursor) and its authorization dependency
# (no key); None for an error that is not the client's, which then propagates.
Translate = Callable[[Exception], AasApiError | None]


def result_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    message = {"code": str(status), "messageType": "Error", "text": text,
               "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    return Response(orjson.dumps({"messages": [message]}), status_code=status, media_type=JSON, headers=headers)


def _as_result(exc: Exception, translate: Translate) -> Response | None:
    exc = translate(exc) or exc
    if isinstance(exc, AasApiError):
        return result_response(exc.status, exc.text, exc.headers)
    if isinstance(exc, RequestValidationError):
        return result_response(400, "; ".join(_explain(e) for e in exc.errors()) or "invalid request")
    if isinstance(exc, HTTPException):
        return result_response(exc.status_code, str(exc.detail), exc.headers)
    return None


def _explain(error: Mapping[str, Any]) -> str:
    name = ".".join(str(p) for p in error["loc"][1:])
    pattern = error.get("ctx", {}).get("pattern", "") if error.get("type") == "string_pattern_mismatch" else ""
    hint = HINTS.get(pattern)
    return f"{name} '{error.get('input')}' {hint}" if hint else f"{name}: {error['msg']}"


def _nothing(_: Exception) -> AasApiError | None:
    return None


class ResultRoute(APIRoute):
    """A route whose errors, from dependencies or the endpoint, leave as a Part 2 Result body."""

    translate: staticmethod[[Exception], AasApiError | None] = staticmethod(_nothing)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        translate = self.translate

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = _as_result(exc, translate)
                if response is None:
                    raise
                return response

        return handle


def result_route(translate: Translate) -> type[ResultRoute]:
    """A ``ResultRoute`` that answers the errors ``translate`` knows as Part 2 errors too."""
    return type("OwnResultRoute", (ResultRoute,), {"translate": staticmethod(translate)})
