"""Orders API (CONTRACT §4: orders)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

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
    bool_arg("allocatable")  # validated; allocation engine filters on it
    with db().read() as session:
        stmt = repo.orders_query(account_id(), statuses, allocation)
        return paginate(session, stmt, order_summary)


@bp.get("/<int:order_id>")
def get_order(order_id: int) -> ResponseReturnValue:
    acct = account_id()
    with db().read() as session:
        order = repo.get_order(session, acct, order_id)
        if order is None:
            raise ApiError(f"order {order_id} not found in account {acct!r}", 404)
        return order_detail(session, order)
