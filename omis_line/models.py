"""Tables of the line's database. Created only by the alembic environment in ``omis_line/migrations``.

The tables live in their own SQLAlchemy registry (``LineTable``), apart from ``SQLModel.metadata``, so a process
that imports the line beside another app never sees table names collide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, ForeignKey, Integer, LargeBinary, String, Text, TypeDecorator
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from omis_line.clock import utcnow


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on PostgreSQL (timestamptz) and on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the line stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


class OrderState(StrEnum):
    RECEIVED = "received"
    SCHEDULED = "scheduled"
    IN_PRODUCTION = "in_production"
    COMPLETED = "completed"
    FAILED = "failed"


class ProductionState(StrEnum):
    PLANNED = "planned"  # made by the ERP, not yet on the MES queue
    QUEUED = "queued"  # on the line's FIFO queue (also while its bottles flow)
    DONE = "done"
    FAILED = "failed"


class BottleState(StrEnum):
    IN_LINE = "in_line"
    PENDING = "pending"  # was in the line when the process stopped; starts again at loading
    GOOD = "good"
    FAILED = "failed"
    SCRAPPED = "scrapped"  # taken off the line because another bottle failed its order


class RevisionState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    REJECTED = "rejected"  # the AAdSys refused it with a 4xx that no retry can change


class LineTable(SQLModel, registry=registry()):
    """Base of every table of the line: its own metadata (see the module docstring)."""


class FollowerPosition(LineTable, table=True):
    """The last event id of an AAdSys event stream the line follows, moved in the transaction of its effect."""

    __tablename__ = "follower_positions"

    name: str = Field(primary_key=True, max_length=64)
    last_event_id: int = Field(sa_column=Column(Integer, nullable=False))


class SalesOrder(LineTable, table=True):
    __tablename__ = "sales_orders"

    order_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=20, index=True)
    received_at: datetime = _when(default_factory=utcnow, index=True)
    completed_at: datetime | None = _when(default=None)
    record: str = Field(sa_type=Text, description="the Sales Order business JSON as the AAdSys served it")
    first_rfid_tag: str | None = Field(default=None, max_length=64)
    announced_stations: list[str] = Field(default_factory=list, sa_type=JSON,
                                          description="stations whose in_production revision was decided")


class ProductionOrder(LineTable, table=True):
    __tablename__ = "production_orders"

    id: int | None = Field(default=None, primary_key=True)
    sales_order_id: str = Field(sa_column=Column(String(64), ForeignKey("sales_orders.order_id"), nullable=False,
                                                 index=True))
    item_index: int
    bottle_size_ml: int
    quantity: int
    bom: dict[str, Any] = Field(sa_type=JSON)
    label_text: str | None = Field(default=None, sa_type=Text)
    label_sha256: str | None = Field(default=None, max_length=64)
    label_content_type: str | None = Field(default=None, max_length=100)
    label_verified: bool = False
    state: str = Field(max_length=20, index=True)
    queue_seq: int | None = Field(default=None, index=True)


class LabelImage(LineTable, table=True):
    """A label image as the ERP fetched and checked it; content-addressed by its SHA-256."""

    __tablename__ = "label_images"

    sha256: str = Field(primary_key=True, max_length=64)
    content_type: str = Field(max_length=100)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Bottle(LineTable, table=True):
    __tablename__ = "bottles"

    rfid_tag: str = Field(primary_key=True, max_length=64)
    production_order_id: int = Field(sa_column=Column(Integer, ForeignKey("production_orders.id"), nullable=False,
                                                      index=True))
    sales_order_id: str = Field(max_length=64, index=True)
    state: str = Field(max_length=20, index=True)
    printed_sha256: str | None = Field(default=None, max_length=64)
    loaded_at: datetime = _when(default_factory=utcnow)
    finished_at: datetime | None = _when(default=None)


class TraceEvent(LineTable, table=True):
    """One pass of a bottle through a station, written when the bottle leaves it."""

    __tablename__ = "trace_events"

    id: int | None = Field(default=None, primary_key=True)
    rfid_tag: str = Field(max_length=64, index=True)
    production_order_id: int
    sales_order_id: str = Field(max_length=64, index=True)
    station: str = Field(max_length=20)
    entered: datetime = _when(index=True)
    left: datetime = _when(index=True)
    result: str = Field(max_length=10, description="ok, failed or rework")


class StatusRevision(LineTable, table=True):
    """Outbox of Sales Order Status revisions, posted to the AAdSys in id order by the sender."""

    __tablename__ = "status_revisions"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, index=True)
    status: str = Field(max_length=20)
    payload: str = Field(sa_type=Text, description="the business JSON, fixed when decided so retries repeat it")
    state: str = Field(default=RevisionState.PENDING, max_length=10, index=True)
    created_at: datetime = _when(default_factory=utcnow)
    posted_at: datetime | None = _when(default=None)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
