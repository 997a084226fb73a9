"""Tables of one AAdSys. Created only by the alembic environment in ``aadsys/migrations``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, Table, Text, UniqueConstraint
from sqlalchemy.types import JSON
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC: the one time representation in every table (sqlmodel stores it as UTC)."""
    return datetime.now(UTC)


class AssetTypeRow(SQLModel, table=True):
    __tablename__ = "asset_types"

    slug: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    key_field: str = Field(max_length=64)
    versioned: bool = False
    type_shell_id: str = Field(max_length=2000)
    type_environment: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    registered_at: datetime = Field(default_factory=utcnow)


class InstanceRow(SQLModel, table=True):
    """One stored revision of one business record, as canonical AAS JSON bytes.

    Beside them, written once with the row so that reads move bytes and parse nothing: the business JSON,
    the ValueOnly form of each submodel, and ``spans``, where the shell and each submodel lie in
    ``aas_json`` and each ValueOnly form in ``value_json`` (format: ``aadsys.core.parts``).

    ``origin`` is ``""`` for this AAdSys's own records and the provider's organisation slug for records
    received over a connector channel: keys are unique per origin, so a partner's records never mix with
    ours (DESIGN §5, issue 6 §6). Received rows also keep the subscription they came by and when.
    """

    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("origin", "asset_type", "instance_key", "revision", name="uq_instances_origin_type_key_rev"),
        Index("ix_instances_type_origin_created", "asset_type", "origin", "created_at", "id"),
        Index("ix_instances_type_origin_id", "asset_type", "origin", "id"),  # the commit follower's "after id"
        Index("ix_instances_type_id", "asset_type", "id"),  # the event stream's "after seq"
        Index("ix_instances_shell_latest", "shell_id", "is_latest"),
        Index("ix_instances_key_id", "instance_key", "id"),  # discovery by SpecificAssetId (the key)
        Index("ix_instances_global_asset_id_id", "global_asset_id", "id"),  # discovery by globalAssetId
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
    business_json: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    value_json: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    spans: str = Field(max_length=2000)
    origin: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""},
                        description="'' for own records; the provider's org slug for received ones")
    subscription_id: str | None = Field(default=None, max_length=64)
    received_at: datetime | None = None


class SubmodelRow(SQLModel, table=True):
    """Where a submodel id lives; stable across revisions of its instance."""

    __tablename__ = "submodels"
    __table_args__ = (Index("ix_submodels_first_seen_id", "first_seen", "submodel_id"),)  # the listing's keyset

    submodel_id: str = Field(primary_key=True, max_length=2000)
    shell_id: str = Field(max_length=2000, index=True)
    asset_type: str = Field(foreign_key="asset_types.slug", max_length=64)
    instance_key: str = Field(max_length=64)
    semantic_id: str | None = Field(default=None, max_length=2000, index=True)
    id_short: str | None = Field(default=None, max_length=128)
    first_seen: int = Field(description="instances.id of the revision that introduced it; the listing order")
    position: int = Field(default=0, description="its place among its shell's submodels (the spans' order)")


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


class InboxRow(SQLModel, table=True):
    """Consumer inbox: what arrived over a channel; duplicates drop on the unique key (DESIGN §5.3)."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("subscription_id", "instance_key", "sha256", name="uq_inbox_dedup"),
                      Index("ix_inbox_subscription_seq", "subscription_id", "seq"))

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
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def table_of(row: type[SQLModel]) -> Table:
    """The Core table of a row class, typed (``Row.__table__`` is not), for statements compiled once."""
    return SQLModel.metadata.tables[str(row.__tablename__)]
