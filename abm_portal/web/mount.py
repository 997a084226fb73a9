"""``mount_web``: add the web UI to the portal app (sessions, CSRF-protected page routes, static files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from abm_portal.web.context import SessionFactory, WebContext
from abm_portal.web.timestamps import when

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "abm_session"
SESSION_MAX_AGE = 8 * 3600


def mount_web(app: FastAPI, settings: Any, session_factory: SessionFactory, session_secret: str) -> None:
    """Add everything the pages need to ``app``; the app factory calls this once.

    ``session_secret`` signs the session cookies; every worker of one portal is given the same one
    (``abm_portal.services.session_key``), so a session started on one worker goes on on any other.
    """
    from abm_portal.web.not_found import install_not_found_page
    from abm_portal.web.pages import router  # the pages import the service layer; keep that off module import

    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = when
    app.state.portal_web = WebContext(settings=settings, session_factory=session_factory, templates=templates)
    # Starlette's session cookie is signed (itsdangerous), HttpOnly always; Secure when the portal is served on https.
    app.add_middleware(SessionMiddleware, secret_key=session_secret, session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=_secure_cookies(settings))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    install_not_found_page(app)


def _secure_cookies(settings: Any) -> bool:
    explicit = getattr(settings, "secure_cookies", None)
    if explicit is not None:
        return bool(explicit)
    return str(getattr(settings, "public_url", "") or "").startswith("https://")
