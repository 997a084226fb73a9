"""RFC 9457 problem details for the JSON endpoints: one exception type, one handler per error family.

A person's browser asking for a page (``Accept: text/html``, outside ``/api/``) gets the same status, headers and
message as an HTML page instead, e.g. the 401 shown after the login dialog is dismissed."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from omis_line.web.templating import templates

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


def wants_page(request: Request) -> bool:
    """A browser navigating to a page, not a script calling the JSON API or the event stream."""
    path = request.url.path
    return "text/html" in request.headers.get("accept", "") and not path.startswith("/api/") and path != "/events"


def problem_page(status: int, title: str, detail: str, headers: dict[str, str] | None) -> Response:
    page = templates.get_template("problem.html").render(status=status, title=title, detail=detail)
    return HTMLResponse(page, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        if wants_page(request):
            return problem_page(exc.status, exc.title, exc.detail, exc.headers)
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "message": e["msg"]}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(422, "invalid-request", "Invalid request", f"Fix these parameters: {detail}",
                                errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        if wants_page(request):
            return problem_page(exc.status_code, str(exc.detail), _http_detail(exc.status_code),
                                dict(exc.headers or {}))
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
