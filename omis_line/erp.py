"""ERP: turns one Sales Order into production orders with their bills of materials, in one transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from omis_line import status_outbox
from omis_line.bom import bill_of_materials
from omis_line.models import FollowerPosition, LabelImage, OrderState, ProductionOrder, ProductionState, SalesOrder

ORDER_STREAM = "sales-order"


@dataclass(frozen=True)
class FetchedLabel:
    """A label image the ERP fetched from the AAdSys; ``data`` is None when it never came or did not match."""

    sha256: str
    content_type: str
    data: bytes | None


def parse_record(raw: bytes | str) -> dict[str, Any]:
    """Sales Order business JSON with its decimals (ratios, prices) kept exact."""
    record: dict[str, Any] = json.loads(raw, parse_float=Decimal)
    return record


def take_order(session: Session, raw_record: str, labels: dict[str, FetchedLabel],
               event_id: int | None = None) -> bool:
    """Store the order, its production orders and a ``received`` revision, and move the event stream position,
    all in the caller's session as one commit. False (only the position moves) when the orderId is known."""
    record = parse_record(raw_record)
    order_id = str(record["orderId"])
    if event_id is not None:
        _move_position(session, event_id)
    if session.get(SalesOrder, order_id) is not None:
        session.commit()
        return False
    session.add(SalesOrder(order_id=order_id, state=OrderState.RECEIVED, record=raw_record))
    session.flush()
    for index, item in enumerate(record["items"]):
        image = item.get("labelImage") or None
        label = labels.get(image["sha256"]) if image else None
        if label is not None and label.data is not None and session.get(LabelImage, label.sha256) is None:
            session.add(LabelImage(sha256=label.sha256, content_type=label.content_type, data=label.data))
        session.add(ProductionOrder(
            sales_order_id=order_id, item_index=index, bottle_size_ml=int(item["bottleSizeMl"]),
            quantity=int(item["quantity"]), bom=bill_of_materials(item), label_text=item.get("labelText"),
            label_sha256=image["sha256"] if image else None, label_content_type=image["contentType"] if image else None,
            label_verified=bool(label and label.data is not None), state=ProductionState.PLANNED))
    status_outbox.decide(session, order_id, OrderState.RECEIVED)
    session.commit()
    return True


def skip_event(session: Session, event_id: int) -> None:
    """An event the ERP does not act on (another provider): only the position moves."""
    _move_position(session, event_id)
    session.commit()


def last_event_id(session: Session) -> int | None:
    position = session.get(FollowerPosition, ORDER_STREAM)
    return position.last_event_id if position else None


def _move_position(session: Session, event_id: int) -> None:
    position = session.get(FollowerPosition, ORDER_STREAM)
    if position is None:
        session.add(FollowerPosition(name=ORDER_STREAM, last_event_id=event_id))
    else:
        position.last_event_id = event_id
