"""Render a page: the template plus what every page shows (signed-in viewer, CSRF token, flash messages)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from abm_portal.web import csrf
from abm_portal.web.context import WebContext
from abm_portal.web.flash import pop_flashes

LIVE_REFRESH_HEADER = "X-Live-Refresh"


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.portal_web
    return context


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    page = {
        "viewer": getattr(request.state, "viewer", None),
        "csrf_token": csrf.token_for(request),
        # A live refresh fetches only part of the page; leave messages for the next full page view.
        "flashes": [] if request.headers.get(LIVE_REFRESH_HEADER) else pop_flashes(request),
        **(context or {}),
    }
    return web_context(request).templates.TemplateResponse(request, template, page, status_code=status_code)


def render_error(request: Request, status_code: int, title: str, message: str, hint: str | None = None) -> HTMLResponse:
    return render(request, "error.html", {"status_code": status_code, "title": title, "message": message,
                                          "hint": hint}, status_code=status_code)


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a POST the browser follows with a GET (post/redirect/get)."""
    return RedirectResponse(url, status_code=303)
