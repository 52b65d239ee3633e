"""Read-model queries of the order mirror, named for the API and the console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.orders import repository as repo
from app.orders.models import Order, OrderLine
from app.orders.views import order_detail


def orders_query(
    account_id: str,
    *,
    statuses: Sequence[str] = (),
    allocation_statuses: Sequence[str] = (),
    order_number: str | None = None,
    unmapped: bool | None = None,
) -> sa.Select:
    """Orders of an account, oldest `order_date` first, narrowed by every filter given."""
    stmt = repo.orders_query(account_id, statuses, allocation_statuses)
    if order_number is not None:
        stmt = stmt.where(Order.order_number == order_number)
    if unmapped is not None:
        non_stock = sa.exists().where(OrderLine.order_pk == Order.id, OrderLine.sku.is_(None))
        stmt = stmt.where(non_stock if unmapped else ~non_stock)
    return stmt


def find_order(session: Session, account_id: str, order_id: int) -> Order | None:
    return repo.get_order(session, account_id, order_id)


def order_body(session: Session, order: Order) -> dict[str, Any]:
    """An order with its lines, what shipped and its timeline."""
    return order_detail(session, order)
