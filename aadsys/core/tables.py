"""Tables of one AAdSys. Created only by the alembic environment in ``migrations/aadsys``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlalchemy.types import JSON
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC: the one time representation in every table (sqlmodel stores it as UTC)."""
    return datetime.now(UTC)


class AssetTypeRow(SQLModel, table=True):
    __tablename__ = "asset_types"

    slug: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    description: str = ""
    key_field: str = Field(max_length=64)
    versioned: bool = False
    type_shell_id: str = Field(max_length=2000)
    type_environment: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    registered_at: datetime = Field(default_factory=utcnow)


class InstanceRow(SQLModel, table=True):
    """One stored revision of one business record, as canonical AAS JSON bytes."""

    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("asset_type", "instance_key", "revision", name="uq_instances_type_key_revision"),
        Index("ix_instances_type_created", "asset_type", "created_at", "id"),
        Index("ix_instances_shell_latest", "shell_id", "is_latest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asset_type: str = Field(foreign_key="asset_types.slug", max_length=64)
    instance_key: str = Field(max_length=64)
    revision: int = 1
    is_latest: bool = True
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sha256: str = Field(max_length=64, index=True)
    shell_id: str = Field(max_length=2000)
    shell_id_short: str | None = Field(default=None, max_length=128)
    global_asset_id: str | None = Field(default=None, max_length=2000)
    aas_json: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SubmodelRow(SQLModel, table=True):
    """Where a submodel id lives; stable across revisions of its instance."""

    __tablename__ = "submodels"

    submodel_id: str = Field(primary_key=True, max_length=2000)
    shell_id: str = Field(max_length=2000, index=True)
    asset_type: str = Field(foreign_key="asset_types.slug", max_length=64)
    instance_key: str = Field(max_length=64)
    semantic_id: str | None = Field(default=None, max_length=2000, index=True)
    id_short: str | None = Field(default=None, max_length=128)
    first_seen: int = Field(description="instances.id of the revision that introduced it; the listing order")


class FileRow(SQLModel, table=True):
    """A content-addressed file; its bytes live under ``<data-dir>/files/<sha[:2]>/<sha>``."""

    __tablename__ = "files"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    media_type: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=16, description="public part of the key, after 'aak_'")
    name: str = Field(max_length=100, unique=True)
    secret_sha256: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class DeliveryRow(SQLModel, table=True):
    """Provider outbox (DESIGN §5.4): one row per (subscription, instance)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("subscription_id", "instance_id", name="uq_outbox_subscription_instance"),
        Index("ix_outbox_state", "state", "subscription_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=64)
    instance_id: int = Field(foreign_key="instances.id")
    state: str = Field(default="pending", max_length=16, description="pending | sent | stored | expired")
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    stored_at: datetime | None = None
    expires_at: datetime


class InboxRow(SQLModel, table=True):
    """Consumer inbox: what arrived over a channel; duplicates drop on the unique key (DESIGN §5.3)."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("subscription_id", "instance_key", "sha256", name="uq_inbox_dedup"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(max_length=64)
    provider_org: str = Field(max_length=64)
    seq: int
    asset_type: str = Field(max_length=64)
    instance_key: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    instance_id: int | None = Field(default=None, foreign_key="instances.id")
    received_at: datetime = Field(default_factory=utcnow)


class AuditRow(SQLModel, table=True):
    """Append-only trail of state changes in this AAdSys."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=2000)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
