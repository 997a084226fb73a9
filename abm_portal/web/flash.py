"""One-shot messages carried in the session across a redirect (post/redirect/get)."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

Kind = Literal["success", "error", "info"]
_SESSION_KEY = "flash"


def flash(request: Request, kind: Kind, text: str) -> None:
    request.session[_SESSION_KEY] = [*request.session.get(_SESSION_KEY, []), [kind, text]]


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    messages = request.session.pop(_SESSION_KEY, [])
    return [(kind, text) for kind, text in messages]
