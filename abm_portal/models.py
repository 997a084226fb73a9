"""Tables of the portal. Created only by the alembic environment in ``abm_portal/migrations``.

The tables live in their own SQLAlchemy registry (``PortalTable``), apart from ``SQLModel.metadata``: the
portal has its own database, and a process that imports both the portal and an AAdSys must not see their
table names collide.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Dialect, Index, Text, TypeDecorator, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from abm_portal.clock import utcnow


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the portal stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


class PortalTable(SQLModel, registry=registry()):
    """Base of every portal table: its own metadata (see the module docstring)."""


class Organisation(PortalTable, table=True):
    __tablename__ = "organisations"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200, unique=True)
    description: str = Field(default="", sa_type=Text)
    endpoint_url: str | None = Field(default=None, max_length=2000)
    signing_key: str | None = Field(default=None, max_length=64, description="Ed25519 public key, base64url raw")
    encryption_key: str | None = Field(default=None, max_length=64, description="X25519 public key, base64url raw")
    client_id: str = Field(max_length=64, unique=True)
    created_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)


class User(PortalTable, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(max_length=254, unique=True, description="Stored lower-case")
    password_hash: str = Field(max_length=200, description="argon2id (RFC 9106)")
    role: str = Field(max_length=32, description="org_admin | org_member | portal_operator")
    org_id: str | None = Field(default=None, foreign_key="organisations.id", index=True, max_length=36)
    created_at: datetime = _when(default_factory=utcnow)


class ClientSecret(PortalTable, table=True):
    """A connector client's secret, as its SHA-256 only; rotating revokes the old one."""

    __tablename__ = "client_secrets"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    org_id: str = Field(foreign_key="organisations.id", index=True, max_length=36)
    secret_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = _when(default_factory=utcnow)
    revoked_at: datetime | None = _when(default=None)


class PersonalToken(PortalTable, table=True):
    """A personal access token of one user, as its SHA-256 only."""

    __tablename__ = "personal_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    name: str = Field(max_length=100)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = _when(default_factory=utcnow)
    last_used_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)


class SigningKey(PortalTable, table=True):
    """A key the portal signs tokens with (ES256); published in the JWKS until its tokens have expired."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    algorithm: str = Field(max_length=16)
    encrypted_private_key: str = Field(sa_type=Text, description="The PEM sealed with the key-encryption key "
                                                                 "(abm_portal.services.key_encryption)")
    created_at: datetime = _when(default_factory=utcnow)
    retired_at: datetime | None = _when(default=None)


class PortalSecret(PortalTable, table=True):
    """A secret every worker of the portal shares (the web session key), sealed with the key-encryption key."""

    __tablename__ = "portal_secrets"

    name: str = Field(primary_key=True, max_length=64)
    sealed_value: str = Field(sa_type=Text, description="Sealed like a signing key (abm_portal.services."
                                                        "key_encryption), the name as associated data")
    created_at: datetime = _when(default_factory=utcnow)


class Asset(PortalTable, table=True):
    """Published asset-type metadata (DESIGN §3): identity, semantic ids, submodel templates; never values."""

    __tablename__ = "assets"
    __table_args__ = (
        Index("uq_assets_live_org_type", "org_id", "asset_type", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=128)
    org_id: str = Field(foreign_key="organisations.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    asset_type: str = Field(max_length=64)
    semantic_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    submodels: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    type_shell: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    global_asset_id: str | None = Field(default=None, max_length=2000)
    owner: str | None = Field(default=None, max_length=64, description="The publisher's AAS owner slug")
    key_field: str | None = Field(default=None, max_length=64)
    versioned: bool | None = None
    visibility: str = Field(max_length=16, description="public | private")
    created_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)
    deleted_at: datetime | None = _when(default=None)


class Subscription(PortalTable, table=True):
    """A consumer's date-ranged subscription to a provider's asset: the contract (DESIGN §6)."""

    __tablename__ = "subscriptions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=128)
    provider_org_id: str = Field(foreign_key="organisations.id", index=True, max_length=36)
    consumer_org_id: str = Field(foreign_key="organisations.id", index=True, max_length=36)
    mode: str = Field(max_length=16, description="realtime | historical")
    valid_from: datetime = _when()
    valid_to: datetime = _when()
    state: str = Field(max_length=16, index=True)
    requested_by: str = Field(max_length=300)
    decided_by: str | None = Field(default=None, max_length=300)
    reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _when(default_factory=utcnow)
    decided_at: datetime | None = _when(default=None)
    updated_at: datetime = _when(default_factory=utcnow)


class TransferJob(PortalTable, table=True):
    """One historical transfer: completes only when both connectors report the same count and digest."""

    __tablename__ = "transfer_jobs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    subscription_id: str = Field(foreign_key="subscriptions.id", index=True, max_length=36)
    state: str = Field(max_length=16)
    expected_count: int | None = None
    provider_count: int | None = None
    provider_digest: str | None = Field(default=None, max_length=200)
    consumer_count: int | None = None
    consumer_digest: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)


class SubscriptionProgress(PortalTable, table=True):
    """One side's latest cumulative figures for a real-time subscription, as its connector reported them.

    The provider reports what it sent, the consumer what it stored; a report never moves ``count`` or
    ``last_seq`` back (``abm_portal.services.progress``).
    """

    __tablename__ = "subscription_progress"

    subscription_id: str = Field(foreign_key="subscriptions.id", primary_key=True, max_length=36)
    side: str = Field(primary_key=True, max_length=16, description="provider | consumer")
    count: int = Field(sa_type=BigInteger, description="Deliveries sent (provider) or instances stored (consumer)")
    last_seq: int = Field(sa_type=BigInteger, description="The highest delivery sequence number sent or stored")
    expired: int = Field(sa_type=BigInteger, description="Deliveries that passed their TTL unstored (provider)")
    reported_at: datetime = _when(default_factory=utcnow)


class Revocation(PortalTable, table=True):
    """A grant that stopped being valid before it expired; connectors poll these by ``seq``."""

    __tablename__ = "revocations"

    seq: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(default_factory=utcnow)
    subscription_id: str = Field(foreign_key="subscriptions.id", index=True, max_length=36)
    provider_org_id: str = Field(index=True, max_length=36)
    consumer_org_id: str = Field(index=True, max_length=36)
    state: str = Field(max_length=16, description="The subscription's state that ended the grant")
    reason: str | None = Field(default=None, sa_type=Text)


class RevocationStream(PortalTable, table=True):
    """One open ``GET /api/v1/revocations/stream`` (``abm_portal.services.revocation_stream``): counted per
    organisation across every worker, so that one organisation cannot hold more than its share of them.

    The worker serving the stream renews ``seen_at`` while it runs and deletes the row when it ends; a row whose
    worker was killed stops counting once ``seen_at`` is older than the stale limit.
    """

    __tablename__ = "revocation_streams"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    org_id: str = Field(index=True, max_length=36)
    worker: str = Field(max_length=128, description="The portal worker serving it (host:pid:random)")
    opened_at: datetime = _when(default_factory=utcnow)
    seen_at: datetime = _when(default_factory=utcnow)


class AuthThrottle(PortalTable, table=True):
    """Recent failed authentications of one account, client or client address (``abm_portal.services.throttle``).

    In the database rather than in memory so every worker process of one portal counts the same attempts.
    """

    __tablename__ = "auth_throttles"

    scope: str = Field(primary_key=True, max_length=16, description="account | address | client | client-address")
    key: str = Field(primary_key=True, max_length=320, description="The email, client id or IP address")
    failures: int = Field(description="Failed or refused attempts since the last lockout, success or quiet window")
    last_failure_at: datetime = _when()
    locked_until: datetime | None = _when(default=None)


class AuditEntry(PortalTable, table=True):
    """One append-only audit record (DESIGN §6); database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(default_factory=utcnow, index=True)
    actor: str = Field(max_length=300)
    org_id: str | None = Field(default=None, index=True, max_length=36, description="The acting organisation")
    partner_org_id: str | None = Field(default=None, index=True, max_length=36,
                                       description="The other organisation concerned, e.g. a subscription's "
                                                   "consumer when the provider acts")
    action: str = Field(max_length=64)
    subject: str = Field(max_length=300)
    before: str | None = Field(default=None, max_length=64)
    after: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
