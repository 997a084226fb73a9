"""The portal's own HTML 404 page for paths that no route serves, outside the REST API.

Starlette keeps one handler per exception class and the REST API installs the one for ``HTTPException``
(problem+json, ``abm_portal.api.problems``); this wraps it, so API paths keep their problems and a person who
mistypes a page's address gets a page in the portal's look with a way home (and, signed in, their own menu).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from abm_portal.api.problems import API_PREFIXES
from abm_portal.web.deps import optional_actor
from abm_portal.web.rendering import render, web_context
from abm_portal.web.routing import SECURITY_HEADERS

Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_not_found_page(app: FastAPI) -> None:
    """Call after ``install_problem_handlers``: the API's handler stays in charge of everything else."""
    api_handler: Handler | None = app.exception_handlers.get(HTTPException)  # type: ignore[assignment]

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404 and not request.url.path.startswith(API_PREFIXES):
            with web_context(request).session_factory() as db:
                optional_actor(request, db)  # a signed-in person keeps their header and menu on this page too
            response = render(request, "not_found.html", {"path": request.url.path}, status_code=404)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response
        if api_handler is None:
            raise exc
        return await api_handler(request, exc)

    app.add_exception_handler(HTTPException, on_http)
