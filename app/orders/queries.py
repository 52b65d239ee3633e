"""Read-model queries of the order mirror, named for the API and the console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.orders import repository as repo
from app.orders.models import Order
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
    stmt = repo.orders_query(account_id, statuses, allocation_statuses, unmapped=unmapped)
    if order_number is not None:
        stmt = stmt.where(Order.order_number == order_number)
    return stmt


def find_order(session: Session, account_id: str, order_id: int) -> Order | None:
    return repo.get_order(session, account_id, order_id)


def order_body(session: Session, order: Order) -> dict[str, Any]:
    """An order with its lines, what shipped and its timeline."""
    return order_detail(session, order)
