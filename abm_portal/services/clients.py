"""Connector clients (OAuth2 client credentials, RFC 6749 §2.3): one client id per organisation, a secret that
is shown once, kept only as a digest, and rotated by an org admin."""

from __future__ import annotations

from sqlmodel import Session, col, select

from abm_portal.clock import utcnow
from abm_portal.errors import AuthenticationFailed
from abm_portal.models import ClientSecret, Organisation
from abm_portal.services import audit, credentials
from abm_portal.services.actors import ORG_ADMIN, Actor


def new_client_id() -> str:
    return credentials.new_secret(credentials.CLIENT_ID_PREFIX, 12)


def issue_secret(db: Session, org: Organisation) -> str:
    """Revoke the organisation's current secrets and add a new one (in the caller's transaction); returns it."""
    now = utcnow()
    for old in db.exec(select(ClientSecret).where(ClientSecret.org_id == org.id,
                                                  col(ClientSecret.revoked_at).is_(None))).all():
        old.revoked_at = now
        db.add(old)
    secret = credentials.new_secret(credentials.CLIENT_SECRET_PREFIX)
    db.add(ClientSecret(org_id=org.id, secret_sha256=credentials.digest(secret), created_at=now))
    return secret


def rotate_client_secret(db: Session, actor: Actor) -> tuple[str, str]:
    """A new secret for the actor's connector; the old one stops working at once. Returns (client id, secret)."""
    org_id = actor.require(ORG_ADMIN, to="rotate the connector's client secret")
    org = db.get(Organisation, org_id)
    assert org is not None
    secret = issue_secret(db, org)
    audit.record(db, actor, "client_secret.rotated", f"client {org.client_id}", org_id=org.id)
    db.commit()
    return org.client_id, secret


def authenticate_client(db: Session, client_id: str, secret: str) -> Organisation:
    """The organisation whose connector this is; ``AuthenticationFailed`` for an unknown id or a wrong secret."""
    org = db.exec(select(Organisation).where(Organisation.client_id == client_id)).first()
    stored = db.exec(select(ClientSecret.secret_sha256).where(
        ClientSecret.org_id == org.id, col(ClientSecret.revoked_at).is_(None))).all() if org else []
    if org is None or not any(credentials.digests_match(s, secret) for s in stored):
        raise AuthenticationFailed("The client id or the client secret is not right.")
    return org
