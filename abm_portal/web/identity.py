"""Who is signed in: the user id in the signed session cookie, and what the header shows about them."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

_USER_KEY = "user_id"


class LoginRequired(Exception):
    """The page needs a signed-in user and there is none (the page route redirects to the login page)."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the page header and templates show them."""

    user_id: str
    email: str
    org_id: str
    org_name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role in ("org_admin", "admin", "operator", "portal_operator")

    @property
    def is_operator(self) -> bool:
        """A portal operator acts for no organisation: no subscriptions, approvals or organisation of their own."""
        return self.role in ("operator", "portal_operator")

    @property
    def role_label(self) -> str:
        return {"org_admin": "administrator", "admin": "administrator", "org_member": "member",
                "member": "member", "operator": "portal operator",
                "portal_operator": "portal operator"}.get(self.role, self.role.replace("_", " "))


def log_in(request: Request, user_id: object) -> None:
    """Start a fresh session for ``user_id``; dropping the old one (and its CSRF token) prevents session fixation."""
    request.session.clear()
    request.session[_USER_KEY] = str(user_id)


def log_out(request: Request) -> None:
    request.session.clear()


def signed_in_user_id(request: Request) -> str | None:
    value = request.session.get(_USER_KEY)
    return str(value) if value else None


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: refuse ``//host`` and absolute URLs (no open redirect after login)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
