"""Who is acting: a person (by session or personal token) or an organisation's connector (by access token)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from abm_portal.errors import Forbidden

ORG_ADMIN: Final = "org_admin"
ORG_MEMBER: Final = "org_member"
PORTAL_OPERATOR: Final = "portal_operator"
CONNECTOR: Final = "connector"
USER_ROLES: Final = (ORG_ADMIN, ORG_MEMBER, PORTAL_OPERATOR)


@dataclass(frozen=True)
class Actor:
    """The caller of a service. ``user_id`` is None for a connector client; ``org_id`` is None for an operator.

    ``kind`` says how they proved who they are: ``user`` (password, web session), ``token`` (a personal
    access token) or ``connector`` (an OAuth2 client-credentials access token). ``name`` is how the audit
    trail names them: an email address or a client id. ``expires_at`` is when the credentials they acted with
    end (an access token's ``exp``); None for a session or a personal token, which end when revoked.
    """

    user_id: str | None
    org_id: str | None
    org_name: str | None
    role: str
    kind: str
    name: str = ""
    expires_at: datetime | None = None

    @property
    def label(self) -> str:
        if self.kind == "connector":
            return f"connector {self.name}"
        if self.kind == "token":
            return f"{self.name} (personal token)"
        return self.name

    def own_org(self) -> str:
        """The organisation the actor acts for; a portal operator has none."""
        if self.org_id is None:
            raise Forbidden("This needs an organisation account; portal operators act for no organisation.")
        return self.org_id

    def require(self, *roles: str, to: str) -> str:
        """The actor's organisation, provided its role is one of ``roles``; ``to`` says what is refused."""
        org_id = self.own_org()
        if self.role not in roles:
            who = {ORG_ADMIN: "an administrator", ORG_MEMBER: "a member", CONNECTOR: "a connector"}
            allowed = " or ".join(who.get(r, r) for r in roles)
            raise Forbidden(f"Only {allowed} of the organisation may {to}.")
        return org_id
