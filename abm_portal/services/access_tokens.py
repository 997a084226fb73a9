"""Access tokens of connectors: the OAuth2 client-credentials grant (RFC 6749 §4.4), JWTs per RFC 9068.

Claims: ``iss`` (the portal), ``sub`` and ``client_id`` (the connector's client id), ``org`` (its
organisation's id), ``aud`` (this portal's API), ``iat``, ``nbf``, ``exp``, ``jti`` and ``scope``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from abm_portal.clock import utcnow
from abm_portal.config import Settings
from abm_portal.errors import InvalidToken, Unauthorized
from abm_portal.models import Organisation
from abm_portal.services import signed_tokens
from abm_portal.services.actors import CONNECTOR, Actor

SCOPE = "connector"


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_in: int
    scope: str


def issue_access_token(db: Session, settings: Settings, org: Organisation, now: datetime | None = None) -> AccessToken:
    """A short-lived access token for ``org``'s connector (the client is already authenticated)."""
    issued = now or utcnow()
    ttl = settings.access_token_ttl_seconds
    value = signed_tokens.sign(db, settings, typ=signed_tokens.ACCESS_TOKEN_TYPE, audience=settings.api_audience,
                               claims={"sub": org.client_id, "client_id": org.client_id, "org": org.id,
                                       "scope": SCOPE},
                               lifetime_end=issued + timedelta(seconds=ttl), now=issued)
    return AccessToken(value=value, expires_in=ttl, scope=SCOPE)


def actor_for_access_token(db: Session, settings: Settings, value: str) -> Actor:
    """The connector an access token speaks for; ``Unauthorized`` if any check fails."""
    try:
        claims = signed_tokens.verify(db, settings, value, typ=signed_tokens.ACCESS_TOKEN_TYPE,
                                      audience=settings.api_audience)
    except InvalidToken as exc:
        raise Unauthorized(exc.message) from None
    org = db.get(Organisation, str(claims.get("org")))
    if org is None or org.client_id != claims.get("sub"):
        raise Unauthorized("The token's organisation or client no longer exists; get a new token.")
    return Actor(user_id=None, org_id=org.id, org_name=org.name, role=CONNECTOR, kind="connector",
                 name=org.client_id, expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC))
