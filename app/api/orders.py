"""Orders API (CONTRACT §4: orders)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from app.allocation import queries as allocation_queries
from app.api.bodies import OrderDetail, OrderPage
from app.api.common import AccountPageQuery, AccountQuery, Flag, db, one_of, paginate
from app.api.openapi import operation
from app.errors import ApiError
from app.orders import queries
from app.orders.domain import ALLOCATION_STATUSES, ORDER_STATUSES
from app.orders.models import Order
from app.schemas import Text

bp = Blueprint("orders_api", __name__, url_prefix="/api/orders")


class OrdersQuery(AccountPageQuery):
    status = one_of(ORDER_STATUSES)
    allocation_status = one_of(ALLOCATION_STATUSES)
    allocatable = Flag(load_default=None)
    order_number = Text(Order.order_number, load_default=None)
    unmapped = Flag(load_default=None)


@bp.get("")
@operation("Orders, oldest order_date first", query=OrdersQuery, responses={200: OrderPage})
def list_orders(query: dict[str, Any]) -> ResponseReturnValue:
    stmt = queries.orders_query(
        query["account_id"],
        statuses=query["status"],
        allocation_statuses=query["allocation_status"],
        order_number=query["order_number"],
        unmapped=query["unmapped"],
    )
    stmt = allocation_queries.with_allocatable(stmt, query["allocatable"])
    with db().read() as session:
        return paginate(
            session,
            stmt,
            query,
            serialize_page=lambda rows: allocation_queries.order_summaries(session, rows),
        )


@bp.get("/<int:order_id>")
@operation(
    "One order: lines, allocations, timeline",
    query=AccountQuery,
    responses={200: OrderDetail},
    errors=(404,),
)
def get_order(order_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    return order_or_404(query["account_id"], order_id)


def order_or_404(account_id: str, order_id: int) -> dict[str, Any]:
    with db().read() as session:
        body = allocation_queries.order_with_allocations(session, account_id, order_id)
    if body is None:
        raise ApiError(f"order {order_id} not found in account {account_id!r}", 404)
    return body
