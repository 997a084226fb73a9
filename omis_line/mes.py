"""MES: puts the production orders of newly received Sales Orders on the line's FIFO queue."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from omis_line import status_outbox
from omis_line.models import OrderState, ProductionOrder, ProductionState, SalesOrder


def schedule_received(session: Session) -> list[str]:
    """Queue every received order's production orders (oldest order first) and decide ``scheduled`` for each;
    one commit. Returns the order ids scheduled."""
    orders = session.exec(select(SalesOrder).where(SalesOrder.state == OrderState.RECEIVED)
                          .order_by(col(SalesOrder.received_at), col(SalesOrder.order_id))).all()
    if not orders:
        return []
    next_seq = (session.exec(select(func.max(ProductionOrder.queue_seq))).one() or 0) + 1
    for order in orders:
        planned = session.exec(select(ProductionOrder).where(ProductionOrder.sales_order_id == order.order_id)
                               .order_by(col(ProductionOrder.item_index))).all()
        for production in planned:
            production.state, production.queue_seq = ProductionState.QUEUED, next_seq
            next_seq += 1
        order.state = OrderState.SCHEDULED
        status_outbox.decide(session, order.order_id, OrderState.SCHEDULED)
    session.commit()
    return [order.order_id for order in orders]
