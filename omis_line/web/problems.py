"""RFC 9457 problem details for the JSON endpoints: one exception type, one handler per error family."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://omis-line.example/problems/"


class ProblemError(Exception):
    """Raised by routes; becomes an RFC 9457 problem. ``detail`` says what to fix."""

    def __init__(self, status: int, slug: str, title: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, slug: str, title: str, detail: str, *, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "message": e["msg"]}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, "invalid-request", "Invalid request", f"Fix these parameters: {detail}",
                                errors=errors)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(exc.status_code, slug, str(exc.detail), _http_detail(exc.status_code),
                                headers=dict(exc.headers or {}))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)


def _http_detail(status: int) -> str:
    if status == 404:
        return "There is nothing at this path; see the README of omis_line for the pages and endpoints."
    if status == 405:
        return "This path does not take that method; see the README of omis_line."
    return "The request could not be served as sent."
