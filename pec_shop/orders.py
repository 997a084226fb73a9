"""Orders: placing one (order, image and outbox entry in one transaction), finding one by its token, showing it."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pec_shop.catalogue import BOTTLE_PRICES, CHANNEL, CURRENCY, PRODUCT, REQUESTED_AFTER_DAYS
from pec_shop.models import LabelImage, Order, StatusRevision, utcnow
from pec_shop.order_form import OrderRequest

TOKEN_BYTES = 24  # 192 bits: the customer's only authorisation, so it must be unguessable


class OrderNotFound(LookupError):
    """No order has this token."""


def token_hash(token: str) -> str:
    """Only the token's hash is stored: a copy of the database does not hand out the customers' capabilities."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_order_id(now: datetime) -> str:
    return f"SO-{now:%Y%m%d}-{secrets.token_hex(5).upper()}"


def customer_id(display_name: str) -> str:
    """Stable per display name, so one customer's orders share an id without the shop keeping accounts."""
    return "C-" + hashlib.sha256(display_name.casefold().encode()).hexdigest()[:12]


def place_order(session: Session, request: OrderRequest) -> tuple[Order, str]:
    """Store the order, its label image and its queued Sales Order in one transaction; returns (order, token)."""
    unit_price = BOTTLE_PRICES[request.bottle_size_ml]
    for _ in range(3):  # an order id or token collision is astronomically rare, but must not lose the order
        now = utcnow()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        order = Order(
            order_id=new_order_id(now), token_hash=token_hash(token), placed_at=now,
            customer_name=request.customer_name, bottle_size_ml=request.bottle_size_ml, quantity=request.quantity,
            unit_price=str(unit_price), total=str(unit_price * request.quantity),
            ingredients=[{"ingredient": p.ingredient, "percent": p.percent} for p in request.mix],
            label_text=request.label_text,
            label_sha256=request.label_image.sha256 if request.label_image else None,
            sales_order_json="",
        )
        order.sales_order_json = json.dumps(sales_order_body(order, request), separators=(",", ":"))
        image = request.label_image
        if image and session.get(LabelImage, image.sha256) is None:
            session.add(LabelImage(sha256=image.sha256, content_type=image.content_type, data=image.data))
        session.add(order)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return order, token
    raise RuntimeError("could not find a free order id in three tries")


def sales_order_body(order: Order, request: OrderRequest) -> dict[str, Any]:
    """The Sales Order business JSON (type ``sales-order``), fixed when the order is placed."""
    item: dict[str, Any] = {
        "product": PRODUCT,
        "bottleSizeMl": order.bottle_size_ml,
        "quantity": order.quantity,
        "unitPrice": order.unit_price,
        "ingredients": [{"ingredient": p.ingredient, "ratio": p.percent / 100} for p in request.mix],
    }
    if order.label_text:
        item["labelText"] = order.label_text
    if request.label_image:
        item["labelImage"] = {"sha256": request.label_image.sha256,
                              "contentType": request.label_image.content_type}
    placed = order.placed_at.astimezone(UTC)
    return {
        "orderId": order.order_id,
        "orderDate": placed.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "customer": {"id": customer_id(order.customer_name), "displayName": order.customer_name},
        "channel": CHANNEL,
        "currency": CURRENCY,
        "items": [item],
        "total": order.total,
        "requestedDate": (placed.date() + timedelta(days=REQUESTED_AFTER_DAYS)).isoformat(),
    }


def find_order(session: Session, token: str) -> Order:
    order = session.exec(select(Order).where(Order.token_hash == token_hash(token))).first()
    if order is None:
        raise OrderNotFound(token)
    return order


def label_image(session: Session, order: Order) -> LabelImage | None:
    return session.get(LabelImage, order.label_sha256) if order.label_sha256 else None


def revisions(session: Session, order: Order) -> list[StatusRevision]:
    return list(session.exec(select(StatusRevision).where(StatusRevision.order_id == order.order_id)
                             .order_by(col(StatusRevision.revision))))


def order_json(session: Session, order: Order, token: str) -> dict[str, Any]:
    """The order as ``GET /api/orders/{token}`` shows it (keys are part of the shop's contract)."""
    image = label_image(session, order)
    return {
        "orderId": order.order_id,
        "token": token,
        "placedAt": _iso(order.placed_at),
        "delivery": order.delivery,
        "deliveryError": order.delivery_error,
        "attempts": order.attempts,
        "sentAt": _iso(order.sent_at),
        "status": order.status,
        "currentStation": order.current_station,
        "rfidTag": order.rfid_tag,
        "statusUpdatedAt": order.status_updated_at,
        "trace": order.trace,
        "revisions": [{"revision": r.revision, "status": r.status, "currentStation": r.current_station,
                       "receivedAt": _iso(r.received_at)} for r in revisions(session, order)],
        "item": {
            "bottleSizeMl": order.bottle_size_ml,
            "quantity": order.quantity,
            "ingredients": [{"ingredient": p["ingredient"], "ratio": p["percent"] / 100} for p in order.ingredients],
            "labelText": order.label_text,
            "labelImage": {"sha256": image.sha256, "contentType": image.content_type} if image else None,
            "unitPrice": order.unit_price,
        },
        "total": order.total,
    }


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if when else None
