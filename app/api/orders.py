"""Orders API (CONTRACT §4: orders)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from app.allocation.repository import allocatable_clause
from app.allocation.views import decorate_detail, summaries_with_shortages
from app.api.common import account_id, bool_arg, db, list_arg, paginate
from app.errors import ApiError
from app.orders import repository as repo
from app.orders.domain import ALLOCATION_STATUSES, ORDER_STATUSES
from app.orders.views import order_detail, order_summary

bp = Blueprint("orders_api", __name__, url_prefix="/api/orders")


@bp.get("")
def list_orders() -> ResponseReturnValue:
    statuses = list_arg("status", ORDER_STATUSES)
    allocation = list_arg("allocation_status", ALLOCATION_STATUSES)
    allocatable = bool_arg("allocatable")
    unmapped = bool_arg("unmapped")
    with db().read() as session:
        stmt = repo.orders_query(account_id(), statuses, allocation, unmapped=unmapped)
        if allocatable is not None:
            stmt = stmt.where(allocatable_clause(allocatable))
        return paginate(
            session,
            stmt,
            order_summary,
            serialize_page=lambda rows: summaries_with_shortages(session, rows),
        )


@bp.get("/<int:order_id>")
def get_order(order_id: int) -> ResponseReturnValue:
    acct = account_id()
    with db().read() as session:
        order = repo.get_order(session, acct, order_id)
        if order is None:
            raise ApiError(f"order {order_id} not found in account {acct!r}", 404)
        return decorate_detail(session, order, order_detail(session, order))
