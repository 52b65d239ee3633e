"""Stock and movements API (CONTRACT §4: stock)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import validate
from sqlalchemy.orm import Session

from app.api.bodies import MovementBody, MovementPage, StockBody, StockPage
from app.api.common import (
    AccountFilterPageQuery,
    CommaList,
    PageQuery,
    actor,
    db,
    one_of,
    paginate,
    query_int,
    settings,
)
from app.api.openapi import operation
from app.errors import ApiError
from app.ledger import queries
from app.ledger.domain import MANUAL_TYPES, MOVEMENT_TYPES
from app.ledger.models import Location, Product, StockMovement
from app.ledger.service import (
    MovementConflict,
    NegativeStockRefused,
    record_manual_movement,
    stock_view,
)
from app.schemas import Strict, StrictInt, Text, int_bounds
from app.timeutil import isoformat

bp = Blueprint("stock_api", __name__, url_prefix="/api")


def movement_json(m: StockMovement) -> dict[str, Any]:
    return {
        "id": m.id,
        "sku": m.sku,
        "location": m.location,
        "batch": m.batch or None,
        "quantity": m.quantity,
        "type": m.type,
        "reference": m.reference,
        "reason": m.reason,
        "account_id": m.account_id,
        "order_id": m.order_id,
        "event_id": m.event_id,
        "actor": m.actor,
        "bundle_sku": m.bundle_sku,
        "created_at": isoformat(m.created_at),
    }


class MovementSchema(Strict):
    sku = Text(Product.sku, required=True)
    quantity = StrictInt(StockMovement.quantity, required=True)
    type = Text(required=True, validate=validate.OneOf(MANUAL_TYPES))
    location = Text(Location.code, load_default=None, allow_none=True)
    reason = Text(free_text=True, max=2000, load_default=None, allow_none=True)
    reference = Text(StockMovement.reference, required=True)


class StockQuery(PageQuery):
    sku = CommaList(Text(Product.sku), load_default=list)
    flag = one_of(("negative",))


class MovementsQuery(AccountFilterPageQuery):
    sku = Text(Product.sku, load_default=None)
    order_id = query_int(int_bounds(StockMovement.order_id), load_default=None)
    type = one_of(MOVEMENT_TYPES)
    location = Text(Location.code, load_default=None)


@bp.get("/stock/<path:sku>")
@operation("A SKU's stock per location", responses={200: StockBody}, errors=(404,))
def get_stock(sku: str, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        view = stock_view(session, sku)
        if view is None:
            raise ApiError(f"unknown SKU {sku!r}", 404)
        return view.to_dict()


@bp.get("/stock")
@operation("Stock of every SKU (or those named)", query=StockQuery, responses={200: StockPage})
def list_stock(query: dict[str, Any]) -> ResponseReturnValue:
    stmt = queries.stock_query(query["sku"], negative_only="negative" in query["flag"])
    with db().read() as session:

        def page(rows: list[Any]) -> list[dict[str, Any]]:
            return queries.stock_page(session, rows)

        return paginate(session, stmt, query, scalars=False, serialize_page=page)


@bp.post("/movements")
@operation(
    "Record a receipt or adjustment (reference is the idempotency key)",
    body=MovementSchema,
    responses={201: MovementBody, 200: MovementBody},
    errors=(409,),
)
def post_movement(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data, who, policy = body, actor(), settings().negative_stock

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        try:
            movement, created = record_manual_movement(
                session,
                sku=data["sku"],
                quantity=data["quantity"],
                type_=data["type"],
                reference=data["reference"],
                location=data["location"],
                reason=data["reason"],
                actor=who,
                negative_policy=policy,
            )
        except MovementConflict as conflict:
            original = movement_json(conflict.original)
            raise ApiError(str(conflict), 409, original=original) from None
        except NegativeStockRefused as refused:
            raise ApiError(str(refused), 409, sku=refused.sku, on_hand=refused.on_hand) from None
        return movement_json(movement), created

    # run(): a deadlock with a concurrent release is retried, never a 5xx.
    result, created = db().run(work)
    return result, 201 if created else 200


@bp.get("/movements")
@operation("Movements, newest first", query=MovementsQuery, responses={200: MovementPage})
def list_movements(query: dict[str, Any]) -> ResponseReturnValue:
    stmt = queries.movements_query(
        sku=query["sku"],
        order_id=query["order_id"],
        types=query["type"],
        account_id=query["account_id"],
        location=query["location"],
    )
    with db().read() as session:
        return paginate(session, stmt, query, movement_json)
