"""Who a REST caller is, from ``Authorization: Bearer <token>`` (RFC 6750): a personal token or an access token."""

from __future__ import annotations

from sqlmodel import Session

from abm_portal.config import Settings
from abm_portal.services import access_tokens, credentials, personal_tokens
from abm_portal.services.actors import Actor


def actor_for_bearer(db: Session, settings: Settings, value: str) -> Actor:
    """Personal tokens carry their prefix; anything else is taken for a JWT access token from /oauth/token."""
    if value.startswith(credentials.PERSONAL_TOKEN_PREFIX):
        return personal_tokens.actor_for_token(db, value)
    return access_tokens.actor_for_access_token(db, settings, value)
