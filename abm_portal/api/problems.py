"""RFC 9457 problem details for the REST API: one handler per error family, in one place.

Domain code raises typed errors (``abm_portal.errors``); only this module knows their HTTP status and problem
type. Validation problems carry ``errors: [{field, message}]`` so a client can point at the input to fix.
The web pages map the same errors to HTML in ``abm_portal.web.routing``; outside the API a path that no route
serves gets the portal's HTML 404 page (``abm_portal.web.not_found``), other HTTP errors FastAPI's own handling.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from abm_portal.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidToken,
    InvalidTransition,
    NotFound,
    PortalError,
    TooManyAttempts,
    TooManyStreams,
    Unauthorized,
    ValidationFailed,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://aadsys.dev/problems/portal/"
REALM = "abm-portal"
API_PREFIXES = ("/api/", "/oauth/", "/.well-known/", "/healthz", "/readyz", "/metrics")

# error type -> (status, problem slug, title); the first match in this order wins
_STATUS: list[tuple[type[PortalError], int, str, str]] = [
    (ValidationFailed, 422, "invalid-input", "The input is invalid"),
    (Unauthorized, 401, "unauthorized", "Authentication is required"),
    (InvalidToken, 401, "unauthorized", "Authentication is required"),
    (AuthenticationFailed, 401, "authentication-failed", "Authentication failed"),
    (Forbidden, 403, "forbidden", "Not allowed"),
    (NotFound, 404, "not-found", "Not found"),
    (InvalidTransition, 409, "invalid-transition", "The state does not allow this"),
    (Conflict, 409, "conflict", "Conflict with the current state"),
    (TooManyAttempts, 429, "too-many-attempts", "Too many failed attempts"),
    (TooManyStreams, 429, "too-many-streams", "Too many open streams"),
]


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string", "description": "what went wrong and what to do about it"},
                   "instance": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "object", "properties": {
                       "field": {"type": "string"}, "message": {"type": "string"}}}}},
}
_MEANINGS = {
    400: "The body is not well-formed JSON",
    401: "No access token or personal token, or an invalid or expired one",
    403: "Your role or organisation may not do this",
    404: "No such resource among those you may see",
    409: "The current state does not allow this",
    422: "The input breaks a rule; `errors` names each field",
    429: "Too many at once; `Retry-After` says when to try again",
}


def problem_responses(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses, each an RFC 9457 body; ``meanings`` overrides, e.g. ``s404="…"``."""
    return {status: {"description": meanings.get(f"s{status}", _MEANINGS[status]),
                     "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}} for status in statuses}


def problem(request: Request, status: int, slug: str, title: str, detail: str,
            headers: dict[str, str] | None = None, **extensions: Any) -> Response:
    body = {"type": PROBLEM_BASE + slug if slug != "about:blank" else slug, "title": title, "status": status,
            "detail": detail, "instance": request.url.path, **extensions}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def bearer_challenge(exc: PortalError) -> str:
    """RFC 6750 §3: the challenge names the error only when credentials were sent."""
    error = getattr(exc, "error", "invalid_token")
    if error is None:
        return f'Bearer realm="{REALM}"'
    # RFC 6750 §3: error_description is printable ASCII without '"' and '\\'
    plain = exc.message.translate({0x201C: "'", 0x201D: "'", 0x2018: "'", 0x2019: "'", ord('"'): "'", ord("\\"): None})
    description = plain.encode("ascii", "ignore").decode()
    return f'Bearer realm="{REALM}", error="{error}", error_description="{description}"'


def install_problem_handlers(app: FastAPI) -> None:
    async def on_portal_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PortalError)
        status, slug, title = next(((s, sl, t) for kind, s, sl, t in _STATUS if isinstance(exc, kind)),
                                   (400, "bad-request", "Bad request"))
        extensions: dict[str, Any] = {}
        field = getattr(exc, "field", None)
        if field:
            extensions["errors"] = [{"field": field, "message": exc.message}]
        if isinstance(exc, InvalidTransition):
            extensions.update(currentState=exc.current, requestedState=exc.target)
        headers = {"WWW-Authenticate": bearer_challenge(exc)} if status == 401 else None
        if isinstance(exc, TooManyAttempts | TooManyStreams):  # RFC 9110 §10.2.3
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(request, status, slug, title, exc.message, headers, **extensions)

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) + ". Correct these and send again."
        return problem(request, 422, "invalid-request", "The request is invalid", detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not request.url.path.startswith(API_PREFIXES):
            return await http_exception_handler(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"There is no {request.url.path} here; see /docs for the API's paths."
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /docs for the methods it takes."
            headers = {"Allow": _allowed_methods(request)}
        return problem(request, exc.status_code, "about:blank", _phrase(exc.status_code), detail, headers)

    app.add_exception_handler(PortalError, on_portal_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(HTTPException, on_http)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (RFC 9110 §15.5.6); routing names only the first route's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(request.url.path):
            methods |= route_methods
    return ", ".join(sorted(methods))


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "validTo")`` → ``validTo``; ``("query", "since")`` → ``since``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
