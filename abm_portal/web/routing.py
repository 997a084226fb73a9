"""The route class of every page: CSRF check before a POST runs, domain errors shown as friendly pages.

Domain code raises typed errors (``abm_portal.errors``); the REST API maps them to problem+json
(RFC 9457). Pages map the same errors to HTML here, so the two edges never share a handler.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from abm_portal.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from abm_portal.web import csrf
from abm_portal.web.identity import LoginRequired
from abm_portal.web.rendering import redirect, render_error

# Pages are personal and some show secrets once: never cache them, never frame them.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            response = await _guarded(handler, request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page_handler


async def _guarded(handler: Callable[[Request], Coroutine[Any, Any, Response]], request: Request) -> Response:
    try:
        if request.method == "POST":
            await csrf.verify(request)
        return await handler(request)
    except csrf.CsrfFailed:
        return render_error(
            request, 403, "This form could not be accepted",
            "The form was sent without its security token, or with one that does not belong to your session.",
            "This happens when a page was open for a long time, after you logged out in another tab, or when "
            "another site tried to send the form. Go back, reload the page and try again.")
    except LoginRequired:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/login?" + urlencode({"next": target}))
    except Forbidden as exc:
        return render_error(request, 403, "You are not allowed to do that", str(exc) or "Permission denied.",
                            "Ask an administrator of your organisation if you need this permission.")
    except NotFound as exc:
        return render_error(request, 404, "Not found", str(exc) or "There is nothing at this address.",
                            "It may have been removed, or it belongs to another organisation.")
    except (InvalidTransition, Conflict) as exc:
        return render_error(request, 409, "That cannot be done now", str(exc),
                            "Someone may have acted on it already. Reload the page to see its current state.")
    except ValidationFailed as exc:
        return render_error(request, 422, "Please check your input", str(exc))
