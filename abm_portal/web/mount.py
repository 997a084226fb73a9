"""``mount_web``: add the web UI to the portal app (sessions, CSRF-protected page routes, static files)."""

from __future__ import annotations

import os
import secrets
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


def mount_web(app: FastAPI, settings: Any, session_factory: SessionFactory) -> None:
    """Add everything the pages need to ``app``; the app factory calls this once."""
    from abm_portal.web.not_found import install_not_found_page
    from abm_portal.web.pages import router  # the pages import the service layer; keep that off module import

    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = when
    app.state.portal_web = WebContext(settings=settings, session_factory=session_factory, templates=templates)
    # Starlette's session cookie is signed (itsdangerous), HttpOnly always; Secure when the portal is served on https.
    app.add_middleware(SessionMiddleware, secret_key=_session_secret(settings), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=_secure_cookies(settings))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    install_not_found_page(app)


def _secure_cookies(settings: Any) -> bool:
    explicit = getattr(settings, "secure_cookies", None)
    if explicit is not None:
        return bool(explicit)
    return str(getattr(settings, "public_url", "") or "").startswith("https://")


def _session_secret(settings: Any) -> str:
    """The key that signs session cookies: from settings, else one kept in ``<data_dir>/web-session.key``.

    Kept on disk (mode 0600) rather than made per process, so sessions survive restarts and every
    worker of one portal accepts the others' cookies.
    """
    configured = getattr(settings, "session_secret", None)
    if configured:
        return configured.get_secret_value() if hasattr(configured, "get_secret_value") else str(configured)
    data_dir = getattr(settings, "data_dir", None)
    if data_dir is None:
        return secrets.token_urlsafe(32)
    path = Path(data_dir) / "web-session.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()  # another worker (or an earlier run) made it
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
