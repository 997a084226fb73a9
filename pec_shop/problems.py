"""RFC 9457 problem details for the JSON endpoints; HTML error pages for everything else."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://pec.example/problems/shop/"
JSON_PREFIXES = ("/api/", "/healthz", "/metrics", "/staff/")


def problem(request: Request, status: int, slug: str, title: str, detail: str, **extensions: Any) -> Response:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extensions}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON)


def install_error_handlers(app: FastAPI) -> None:
    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        phrase = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else _detail(exc.status_code)
        if request.url.path.startswith(JSON_PREFIXES):
            response = problem(request, exc.status_code, phrase.lower().replace(" ", "-"), phrase, detail)
            response.headers.update(exc.headers or {})  # e.g. the Basic challenge of the staff pages
            return response
        templates: Jinja2Templates = request.app.state.shop.templates
        return templates.TemplateResponse(request, "error.html", {"title": phrase, "detail": detail},
                                          status_code=exc.status_code)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return problem(request, 422, "invalid-input", "The input is invalid",
                       "Fix the fields listed in errors and send the request again", errors=errors)

    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def _detail(status: int) -> str:
    if status == 404:
        return "Nothing is here. Check the link you were given: order links are long and must be copied whole."
    if status == 405:
        return "This address does not take that method."
    return HTTPStatus(status).description
