"""Tables of the shop. Created only by the alembic environment in ``pec_shop/migrations``.

They live in their own SQLAlchemy registry (``ShopTable``), apart from ``SQLModel.metadata``: the shop has its
own database, and a process that imports the shop beside other apps must not see their table names collide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, LargeBinary, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the shop stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


class Delivery(StrEnum):
    """Where an order stands with PEC's AAdSys: queued (in the outbox) → sent | refused."""

    QUEUED = "queued"
    SENT = "sent"
    REFUSED = "refused"


class ShopTable(SQLModel, registry=registry()):
    """Base of every shop table: its own metadata (see the module docstring)."""


class Order(ShopTable, table=True):
    """One customer order; also the outbox row of its Sales Order (``delivery`` = queued until the AAdSys took it)."""

    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, unique=True, description="The Sales Order key, e.g. SO-20261122-3FA9C21B0D")
    token_hash: str = Field(max_length=64, unique=True, description="sha256 hex of the customer's capability token")
    placed_at: datetime = _when(default_factory=utcnow)
    customer_name: str = Field(max_length=80)
    bottle_size_ml: int
    quantity: int
    unit_price: str = Field(max_length=16, description="decimal string, MYR")
    total: str = Field(max_length=16, description="decimal string, MYR")
    ingredients: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False),
                                              description="[{ingredient, percent}] in the order chosen")
    label_text: str | None = Field(default=None, max_length=120)
    label_sha256: str | None = Field(default=None, max_length=64, foreign_key="label_images.sha256")
    # The exact body posted every time (the AAdSys takes a repeat idempotently), fixed when the order is placed.
    sales_order_json: str = Field(sa_column=Column(Text, nullable=False))
    delivery: str = Field(default=Delivery.QUEUED, max_length=16, index=True)
    delivery_error: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = 0
    sent_at: datetime | None = _when(default=None, nullable=True)
    status: str | None = Field(default=None, max_length=32)
    status_revision: int | None = None
    current_station: str | None = Field(default=None, max_length=32)
    rfid_tag: str | None = Field(default=None, max_length=64)
    status_updated_at: str | None = Field(default=None, max_length=40, description="updatedAt as received")
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class LabelImage(ShopTable, table=True):
    """An uploaded label image, content-addressed, kept until its order has been delivered (and after)."""

    __tablename__ = "label_images"

    sha256: str = Field(primary_key=True, max_length=64)
    content_type: str = Field(max_length=32)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _when(default_factory=utcnow)


class StatusRevision(ShopTable, table=True):
    """One revision of an order's Sales Order Status as received from the partner."""

    __tablename__ = "status_revisions"
    __table_args__ = (UniqueConstraint("order_id", "revision", name="uq_status_revisions_order_revision"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, foreign_key="orders.order_id", index=True)
    revision: int
    status: str = Field(max_length=32)
    current_station: str | None = Field(default=None, max_length=32)
    received_at: datetime = _when(default_factory=utcnow)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class StreamPosition(ShopTable, table=True):
    """The last event id of an AAdSys event stream the shop follows, written with the event's effect."""

    __tablename__ = "stream_positions"

    stream: str = Field(primary_key=True, max_length=64)
    last_event_id: int
    updated_at: datetime = _when(default_factory=utcnow)
