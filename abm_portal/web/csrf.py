"""Cross-site request forgery protection: a synchroniser token per session (OWASP CSRF cheat sheet).

The token lives in the signed session cookie and in a hidden ``csrf_token`` field of every POST form.
A POST whose field is missing or differs is refused before the page code runs.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

FIELD = "csrf_token"
_SESSION_KEY = "csrf"


class CsrfFailed(Exception):
    """The form carried no CSRF token, or not the one this session was given."""


def token_for(request: Request) -> str:
    """The session's token, minted on first use."""
    token = request.session.get(_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[_SESSION_KEY] = token
    return str(token)


async def verify(request: Request) -> None:
    """Raise :class:`CsrfFailed` unless the submitted form carries this session's token."""
    expected = request.session.get(_SESSION_KEY)
    form = await request.form()
    sent = form.get(FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), str(expected).encode()):
        raise CsrfFailed
