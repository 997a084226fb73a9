"""Personal access tokens: let scripts and the CLI act as a person (e.g. to approve), revocable at any time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, select

from abm_portal.clock import utcnow
from abm_portal.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from abm_portal.models import PersonalToken, User
from abm_portal.services import audit, credentials, users
from abm_portal.services.actors import Actor

MAX_NAME = 100
MAX_ACTIVE_PER_USER = 50
# last_used_at is a hint for people, not a log: write it at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_personal_token(db: Session, actor: Actor, name: str) -> str:
    """A new token that acts as the actor; its value is returned once and stored only as a digest."""
    user_id = _person(actor)
    name = name.strip()
    if not name:
        raise ValidationFailed("name", "Give the token a name, e.g. “approval script”.")
    if len(name) > MAX_NAME:
        raise ValidationFailed("name", f"Shorten the name to at most {MAX_NAME} characters.")
    active = db.exec(select(PersonalToken.id).where(PersonalToken.user_id == user_id,
                                                    col(PersonalToken.revoked_at).is_(None))).all()
    if len(active) >= MAX_ACTIVE_PER_USER:
        raise ValidationFailed("name", f"You have {MAX_ACTIVE_PER_USER} active tokens; revoke unused ones first.")
    value = credentials.new_secret(credentials.PERSONAL_TOKEN_PREFIX)
    token = PersonalToken(user_id=user_id, name=name, token_sha256=credentials.digest(value))
    db.add(token)
    audit.record(db, actor, "personal_token.created", f"personal token {token.id} ({name})", org_id=actor.org_id,
                 after="active")
    db.commit()
    return value


def list_personal_tokens(db: Session, actor: Actor) -> Sequence[PersonalToken]:
    """The actor's own tokens, newest first (a connector has none)."""
    if actor.user_id is None:
        return []
    return db.exec(select(PersonalToken).where(PersonalToken.user_id == actor.user_id)
                   .order_by(col(PersonalToken.created_at).desc())).all()


def revoke_personal_token(db: Session, actor: Actor, token_id: str) -> None:
    user_id = _person(actor)
    token = db.get(PersonalToken, token_id)
    if token is None or token.user_id != user_id:
        raise NotFound("You have no such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.add(token)
        audit.record(db, actor, "personal_token.revoked", f"personal token {token.id} ({token.name})",
                     org_id=actor.org_id, before="active", after="revoked")
        db.commit()


def actor_for_token(db: Session, value: str) -> Actor:
    """The person a token acts as; ``Unauthorized`` for an unknown or revoked token."""
    token = db.exec(select(PersonalToken).where(PersonalToken.token_sha256 == credentials.digest(value))).first()
    if token is None or token.revoked_at is not None:
        raise Unauthorized("This personal access token is unknown or revoked; create a new one on “My organisation”.")
    user = db.get(User, token.user_id)
    if user is None:
        raise Unauthorized("The account of this token is gone.")
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.add(token)
        db.commit()
    return users.actor_for_user(db, user, kind="token")


def _person(actor: Actor) -> str:
    if actor.user_id is None:
        raise Forbidden("Personal tokens belong to people; a connector uses its client credentials.")
    return actor.user_id
