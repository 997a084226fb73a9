"""The key that signs the web UI's session cookies, the same for every worker and host of one portal.

A logged-in session is a signed cookie (Starlette's ``SessionMiddleware``, itsdangerous), so any worker can
check a cookie another worker signed, provided they share this key. It lives in the shared database
(``portal_secrets``), sealed with the key-encryption key like the signing keys (``key_encryption``): whoever
reads a dump of the database could otherwise forge anyone's session. Made once, on the first start: every
worker that finds none takes the same advisory lock, looks again, and only the first one makes it.

The ``session_secret`` setting overrides it (then every worker must be given the same value). A data directory
from before keeps its ``web-session.key``: the first start adopts that file's key, so sessions stay valid.
"""

from __future__ import annotations

import secrets

from sqlmodel import Session

from abm_portal.config import Settings
from abm_portal.db import one_at_a_time
from abm_portal.models import PortalSecret
from abm_portal.services import audit, key_encryption

NAME = "web-session-key"
LEGACY_FILE_NAME = "web-session.key"


def session_key(db: Session, settings: Settings) -> str:
    """The session cookie key: the setting, else the database's, made (and committed) when there is none."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    kek = key_encryption.kek_of(settings)
    row = db.get(PortalSecret, NAME)
    if row is None:
        one_at_a_time(db, NAME)
        row = db.get(PortalSecret, NAME, populate_existing=True)
    if row is None:
        row = PortalSecret(name=NAME, sealed_value=key_encryption.seal(kek, NAME, _first_key(settings)))
        db.add(row)
        audit.record(db, audit.SYSTEM_ACTOR, "session_key.created", "web session key", org_id=None, after="active")
        db.commit()
    else:
        db.rollback()  # end the read (on SQLite it holds the write lock)
    return key_encryption.unseal(kek, NAME, row.sealed_value, what="the web session key")


def _first_key(settings: Settings) -> str:
    legacy = settings.data_dir / LEGACY_FILE_NAME
    kept = legacy.read_text().strip() if legacy.is_file() else ""
    return kept or secrets.token_urlsafe(48)
