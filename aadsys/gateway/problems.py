"""RFC 9457 problem details for the business API: one handler per error family, one place.

Domain code raises typed exceptions; only this module knows their HTTP status and problem type.
The AAS Part 2 API under /api/v3.0 answers with the spec's Result body instead (see aas_api).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aadsys.core.errors import (
    AssetTypeNotRegistered,
    CoreError,
    DigestMismatch,
    FileNotFound,
    FileTooLarge,
    InstanceConflict,
    InstanceNotFound,
    InvalidCursor,
    InvalidRange,
    MissingFiles,
)
from aadsys.gateway.file_links import FILES_ROUTE
from aadsys.gateway.part2 import AasApiError, result_route
from aas_models import AasInvalid, AasModelError, RecordInvalid, UnknownAssetType

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://aadsys.dev/problems/"
CHALLENGE = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}  # with every 401

# exception type -> (status, problem slug, title)
_CORE: dict[type[Exception], tuple[int, str, str]] = {
    InstanceNotFound: (404, "instance-not-found", "Instance not found"),
    InstanceConflict: (409, "instance-conflict", "Instance exists with other content"),
    AssetTypeNotRegistered: (404, "unknown-asset-type", "Unknown asset type"),
    InvalidCursor: (400, "invalid-cursor", "Invalid cursor"),
    InvalidRange: (400, "invalid-range", "Invalid date range"),
    FileTooLarge: (413, "file-too-large", "File too large"),
    DigestMismatch: (422, "digest-mismatch", "Digest mismatch"),
    FileNotFound: (404, "file-not-found", "File not found"),
    MissingFiles: (422, "missing-files", "Referenced files are not stored"),
}


class ProblemError(Exception):
    """Raise from a route for a problem that has no domain exception (bad header, wrong media type)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, *, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extra = status, slug, title, detail, extra
        self.headers = headers

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem details object (§3.1 members, then this problem type's extension members)."""
        return {"type": PROBLEM_BASE + self.slug if self.slug != "about:blank" else self.slug, "title": self.title,
                "status": self.status, "detail": self.detail, **({"instance": instance} if instance else {}),
                **self.extra}


def problem_of(exc: CoreError | AasModelError) -> ProblemError:
    """The problem a domain error is: the one mapping of the core's and the models' errors to HTTP."""
    if isinstance(exc, RecordInvalid | AasInvalid):
        slug, title = ("invalid-record", "Record violates its model") if isinstance(exc, RecordInvalid) else (
            "invalid-aas", "AAS JSON violates the metamodel")
        errors = exc.errors
        detail = "; ".join(f"{e.get('field') or e.get('path')}: {e['message']}" for e in errors[:5]) or str(exc)
        return ProblemError(422, slug, title, detail, errors=errors)
    if isinstance(exc, UnknownAssetType):
        return ProblemError(404, "unknown-asset-type", "Unknown asset type", str(exc))
    found = next((v for k, v in _CORE.items() if isinstance(exc, k)), None)
    if found is None:  # a domain error no route should let out: a fault of ours, answered as a server error
        raise TypeError(f"{type(exc).__name__} has no problem type") from exc
    status, slug, title = found
    where = f" (POST {FILES_ROUTE})" if isinstance(exc, MissingFiles) else ""
    return ProblemError(status, slug, title, str(exc) + where)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string", "description": "what went wrong and what to do about it"},
                   "instance": {"type": "string"}},
}
_MEANINGS = {
    400: "Bad request: malformed JSON, a cursor this server did not issue, a bad date range or header",
    401: "No API key, or an unknown or revoked one (X-API-Key)",
    403: "The API key lacks the scope this operation needs",
    404: "No such asset type, instance or file here",
    406: "None of the accepted media types can be served",
    409: "The key exists with other content",
    410: "Gone: used or expired",
    413: "The body is larger than this server accepts",
    415: "Unsupported Content-Type",
    422: "The request breaks a rule: a parameter out of range, or a record that breaks its model",
    429: "Too many requests: wait for Retry-After seconds, then try again",
    503: "Not ready: a part this server needs is not working now",
}


def problem_responses(*statuses: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses, each an RFC 9457 body (``Problem``, which ``typed_openapi`` adds to
    the document's components); ``meanings`` overrides a description, e.g. ``s404="…"``."""
    return {status: {"description": meanings.get(f"s{status}", _MEANINGS[status]),
                     "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for status in statuses}


def problem(request: Request, status: int, slug: str, title: str, detail: str, *,
            headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    return answer(request, ProblemError(status, slug, title, detail, headers=headers, **extra))


def answer(request: Request, exc: ProblemError) -> Response:
    return Response(orjson.dumps(exc.body(request.url.path)), status_code=exc.status, media_type=PROBLEM_JSON,
                    headers={**(CHALLENGE if exc.status == 401 else {}), **(exc.headers or {})})


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return answer(request, exc)

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CoreError | AasModelError)
        return answer(request, problem_of(exc))

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(request, 422, "invalid-request", "Request parameters are invalid", detail, errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 413:
            detail = "request body is larger than this server accepts; send a smaller body"
        headers = {"Allow": _allowed_methods(request)} if exc.status_code == 405 else exc.headers
        return problem(request, exc.status_code, "about:blank", _reason(exc.status_code), detail, headers=headers)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(CoreError, on_domain)
    app.add_exception_handler(RecordInvalid, on_domain)
    app.add_exception_handler(AasInvalid, on_domain)
    app.add_exception_handler(UnknownAssetType, on_domain)
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


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def as_aas_api_error(exc: Exception) -> AasApiError | None:
    """The gateway's own errors met under the AAS Part 2 API (authorization, a bad cursor), as its Result errors."""
    if isinstance(exc, ProblemError):
        return AasApiError(exc.status, exc.detail, CHALLENGE if exc.status == 401 else None)
    if isinstance(exc, InvalidCursor):
        return AasApiError(400, str(exc))
    return None


AasApiRoute = result_route(as_aas_api_error)  # the route class of every /api/v3.0 route of the gateway
