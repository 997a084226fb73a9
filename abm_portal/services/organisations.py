"""Organisations: registration with a first admin and a connector client, the directory partners search, and
the connector's endpoint and public keys (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from abm_portal.clock import utcnow
from abm_portal.errors import Conflict, NotFound, ValidationFailed
from abm_portal.models import Organisation, User
from abm_portal.services import audit, clients, public_keys, rows, text_search, users
from abm_portal.services.actors import CONNECTOR, ORG_ADMIN, Actor

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_LISTED = 200


def register_organisation(db: Session, *, name: str, description: str, admin_email: str,
                          admin_password: str) -> tuple[Organisation, User, str]:
    """A new organisation, its first admin and its connector client. Returns (org, admin, client secret)."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name", "Enter the organisation's name.")
    if len(name) > MAX_NAME:
        raise ValidationFailed("name", f"Shorten the name to at most {MAX_NAME} characters.")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed("description", f"Shorten the description to at most {MAX_DESCRIPTION} characters.")
    if db.exec(select(Organisation.id).where(func.lower(Organisation.name) == name.lower())).first() is not None:
        raise _name_taken(name)
    org = Organisation(name=name, description=description.strip(), client_id=clients.new_client_id())
    db.add(org)
    admin = users.new_user(db, email=admin_email, password=admin_password, role=ORG_ADMIN, org_id=org.id,
                           fields=("adminEmail", "adminPassword"))
    secret = clients.issue_secret(db, org)
    audit.record(db, admin.email, "organisation.registered", f"organisation {org.name}", org_id=org.id,
                 detail={"admin": admin.email, "clientId": org.client_id})
    try:
        db.commit()
    except IntegrityError:  # a concurrent registration took the name or the address first
        db.rollback()
        raise _name_taken(name) from None
    return org, admin, secret


def _name_taken(name: str) -> Conflict:
    return Conflict(f"An organisation named “{name}” is registered already; choose another name.", field="name")


def get_organisation(db: Session, actor: Actor, org_id: str | None) -> Organisation:
    """Any organisation's directory entry: partners need its endpoint and public keys to reach its connector."""
    org = db.get(Organisation, org_id) if org_id else None
    if org is None:
        raise NotFound("There is no such organisation.")
    return org


def list_organisations(db: Session, actor: Actor, q: str | None) -> Sequence[Organisation]:
    condition = text_search.every_term_matches(q, [Organisation.name, Organisation.description])
    return db.exec(select(Organisation).where(condition).order_by(col(Organisation.name)).limit(MAX_LISTED)).all()


def update_connector(db: Session, actor: Actor, *, endpoint_url: str, signing_key: str | None,
                     encryption_key: str | None) -> Organisation:
    """Register where the connector listens and its public keys; a key given as None stays as it is."""
    org_id = actor.require(ORG_ADMIN, CONNECTOR, to="change the connector's endpoint and keys")
    org = rows.locked(db, Organisation, org_id)
    assert org is not None
    changes = {"endpointUrl": checked_endpoint(endpoint_url)}
    if signing_key is not None:
        changes["signingKey"] = public_keys.canonical_signing_key(signing_key)
    if encryption_key is not None:
        changes["encryptionKey"] = public_keys.canonical_encryption_key(encryption_key)
    before = {"endpointUrl": org.endpoint_url, "signingKey": org.signing_key, "encryptionKey": org.encryption_key}
    org.endpoint_url = changes["endpointUrl"]
    org.signing_key = changes.get("signingKey", org.signing_key)
    org.encryption_key = changes.get("encryptionKey", org.encryption_key)
    changed = {k: {"before": before[k], "after": v} for k, v in changes.items() if before[k] != v}
    if changed:
        org.updated_at = utcnow()
        db.add(org)
        audit.record(db, actor, "connector.updated", f"organisation {org.name}", org_id=org.id, detail=changed)
    db.commit()
    return org


def checked_endpoint(url: str) -> str:
    value = url.strip()
    hint = "Give the URL your connector listens on, e.g. https://connector.omis.example:9443"
    if not value:
        raise ValidationFailed("endpointUrl", f"Enter the connector's endpoint URL. {hint}")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ValidationFailed("endpointUrl", f"“{value}” is not an http(s) URL. {hint}") from None
    if parts.scheme not in ("http", "https") or not hostname or len(value) > 2000:
        raise ValidationFailed("endpointUrl", f"“{value}” is not an http(s) URL. {hint}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed("endpointUrl", f"Leave credentials, query and fragment out of the URL. {hint}")
    return value.rstrip("/")
