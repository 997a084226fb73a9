"""People: accounts with argon2 password hashes and a role; logging in; who a signed-in user acts as."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from abm_portal.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from abm_portal.models import Organisation, User
from abm_portal.services import audit, credentials
from abm_portal.services.actors import ORG_ADMIN, ORG_MEMBER, PORTAL_OPERATOR, USER_ROLES, Actor

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def checked_email(email: str, field: str = "email") -> str:
    """The address, trimmed and lower-cased (the unique key of an account)."""
    value = email.strip().lower()
    if not value:
        raise ValidationFailed(field, "Enter an email address.")
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValidationFailed(field, f"“{email.strip()}” is not an email address; write it as name@example.com.")
    return value


def check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(field, f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(field, f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters.")


def new_user(db: Session, *, email: str, password: str, role: str, org_id: str | None,
             fields: tuple[str, str] = ("email", "password")) -> User:
    """Add an account to the current transaction (the caller commits); ``fields`` name the inputs in errors."""
    if role not in USER_ROLES:
        raise ValidationFailed("role", f"Role must be one of {', '.join(USER_ROLES)}.")
    if (role == PORTAL_OPERATOR) != (org_id is None):
        raise ValidationFailed("role", "Portal operators belong to no organisation; everyone else to one.")
    address = checked_email(email, fields[0])
    check_password(password, fields[1])
    if db.exec(select(User.id).where(User.email == address)).first() is not None:
        raise Conflict(f"An account with the email address {address} exists already; log in, or use another "
                       "address.", field=fields[0])
    user = User(email=address, password_hash=credentials.hash_password(password), role=role, org_id=org_id)
    db.add(user)
    return user


def create_operator(db: Session, *, email: str, password: str) -> User:
    """The first portal operator, made by ``abm-portal init``."""
    user = new_user(db, email=email, password=password, role=PORTAL_OPERATOR, org_id=None)
    audit.record(db, audit.SYSTEM_ACTOR, "user.created", f"user {user.email}", org_id=None, after=PORTAL_OPERATOR)
    _commit(db, user.email)
    return user


def add_member(db: Session, actor: Actor, *, email: str, password: str, role: str = ORG_MEMBER) -> User:
    """An org admin adds a colleague to their organisation, as a member or another admin."""
    org_id = actor.require(ORG_ADMIN, to="add people to it")
    if role not in (ORG_ADMIN, ORG_MEMBER):
        raise ValidationFailed("role", "Choose org_admin or org_member.")
    user = new_user(db, email=email, password=password, role=role, org_id=org_id)
    audit.record(db, actor, "user.created", f"user {user.email}", org_id=org_id, after=role)
    _commit(db, user.email)
    return user


def _commit(db: Session, email: str) -> None:
    try:
        db.commit()
    except IntegrityError:  # a concurrent registration of the same address won the race
        db.rollback()
        raise Conflict(f"An account with the email address {email} exists already.", field="email") from None


def authenticate(db: Session, email: str, password: str) -> User:
    """The account for a login; the same ``AuthenticationFailed`` (and about the same time) for any wrong part."""
    user = db.exec(select(User).where(User.email == email.strip().lower())).first()
    if not credentials.password_matches(user.password_hash if user else None, password) or user is None:
        raise AuthenticationFailed("The email address or the password is not right.")
    if credentials.password_needs_rehash(user.password_hash):
        user.password_hash = credentials.hash_password(password)
        db.add(user)
        db.commit()
    return user


def get_user(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("There is no such account.")
    return user


def find_user(db: Session, email: str) -> User:
    user = db.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"There is no account with the email address {email.strip()}.")
    return user


def actor_for_user(db: Session, user: User, kind: str = "user") -> Actor:
    org = db.get(Organisation, user.org_id) if user.org_id else None
    return Actor(user_id=user.id, org_id=user.org_id, org_name=org.name if org else None, role=user.role, kind=kind,
                 name=user.email)
