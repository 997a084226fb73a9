"""Read models of the operator page and the JSON API: orders, queue and trace as plain dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from omis_line import status_outbox
from omis_line.clock import iso
from omis_line.models import Bottle, LabelImage, ProductionOrder, ProductionState, SalesOrder, TraceEvent


def order(session: Session, sales_order: SalesOrder) -> dict[str, Any]:
    """One order with the exact keys of ``GET /api/orders/{orderId}``."""
    productions = session.exec(select(ProductionOrder).where(ProductionOrder.sales_order_id == sales_order.order_id)
                               .order_by(col(ProductionOrder.item_index))).all()
    posted, pending = status_outbox.counts(session, sales_order.order_id)
    return {
        "orderId": sales_order.order_id,
        "state": sales_order.state,
        "receivedAt": iso(sales_order.received_at),
        "completedAt": iso(sales_order.completed_at) if sales_order.completed_at else None,
        "productionOrders": [production_order(session, p) for p in productions],
        "statusRevisionsPosted": posted,
        "statusRevisionsPending": pending,
    }


def production_order(session: Session, production: ProductionOrder) -> dict[str, Any]:
    label: dict[str, Any] | None = None
    if production.label_sha256:
        size = session.exec(select(func.length(LabelImage.data))
                            .where(LabelImage.sha256 == production.label_sha256)).first()
        label = {"sha256": production.label_sha256, "contentType": production.label_content_type,
                 "bytes": size, "verified": production.label_verified}
    bottles = session.exec(select(Bottle).where(Bottle.production_order_id == production.id)
                           .order_by(col(Bottle.loaded_at))).all()
    return {
        "id": production.id,
        "bottleSizeMl": production.bottle_size_ml,
        "quantity": production.quantity,
        "bom": production.bom,
        "labelText": production.label_text,
        "labelImage": label,
        "bottles": [{"rfidTag": b.rfid_tag, "state": b.state, "printedSha256": b.printed_sha256} for b in bottles],
    }


def orders(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The newest orders first."""
    rows = session.exec(select(SalesOrder).order_by(col(SalesOrder.received_at).desc()).limit(limit)).all()
    return [order(session, row) for row in rows]


def queue(session: Session) -> list[dict[str, Any]]:
    """Production orders waiting or under way on the line (FIFO), then those the MES has not queued yet."""
    rows = session.exec(select(ProductionOrder).where(
        col(ProductionOrder.state).in_([ProductionState.PLANNED, ProductionState.QUEUED]))
        .order_by(col(ProductionOrder.queue_seq).is_(None), col(ProductionOrder.queue_seq), col(ProductionOrder.id))
    ).all()
    result = []
    for p in rows:
        made = session.exec(select(func.count()).select_from(Bottle).where(Bottle.production_order_id == p.id,
                                                                           Bottle.state == "good")).one()
        result.append({"id": p.id, "salesOrder": p.sales_order_id, "state": p.state, "bottleSizeMl": p.bottle_size_ml,
                       "quantity": p.quantity, "good": made, "bom": p.bom, "labelText": p.label_text})
    return result


def trace(session: Session, *, order_id: str | None, start: datetime | None, end: datetime | None,
          limit: int = 10_000) -> list[dict[str, Any]]:
    query = select(TraceEvent)
    if order_id is not None:
        query = query.where(TraceEvent.sales_order_id == order_id)
    if start is not None:
        query = query.where(col(TraceEvent.entered) >= start)
    if end is not None:
        query = query.where(col(TraceEvent.entered) <= end)
    rows = session.exec(query.order_by(col(TraceEvent.entered), col(TraceEvent.id)).limit(limit)).all()
    return [{"rfidTag": r.rfid_tag, "salesOrder": r.sales_order_id, "productionOrder": r.production_order_id,
             "station": r.station, "entered": iso(r.entered), "left": iso(r.left), "result": r.result} for r in rows]
