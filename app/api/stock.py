"""Stock and movements API (CONTRACT §4: stock)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, request
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy.orm import Session

from app.api.common import db, int_arg, json_body, list_arg, paginate
from app.errors import ApiError
from app.ledger import repository as repo
from app.ledger.domain import MANUAL_TYPES, MOVEMENT_TYPES
from app.ledger.models import StockMovement
from app.ledger.service import (
    MovementConflict,
    NegativeStockRefused,
    record_manual_movement,
    stock_view,
    stock_views,
)
from app.schemas import StrictInt
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


class MovementSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(required=True, validate=validate.Length(min=1, max=50))
    quantity = StrictInt(required=True)
    type = fields.String(required=True, validate=validate.OneOf(MANUAL_TYPES))
    location = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 50))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=200))


_movement_schema = MovementSchema()


@bp.get("/stock/<path:sku>")
def get_stock(sku: str) -> ResponseReturnValue:
    with db().read() as session:
        view = stock_view(session, sku)
        if view is None:
            raise ApiError(f"unknown SKU {sku!r}", 404)
        return view.to_dict()


@bp.get("/stock")
def list_stock() -> ResponseReturnValue:
    skus = list_arg("sku")
    flags = list_arg("flag", ("negative",))
    with db().read() as session:
        stmt = repo.stock_totals_query(negative_only="negative" in flags)
        if skus:
            stmt = stmt.where(repo.Product.sku.in_(skus))
        stmt = stmt.order_by(repo.Product.sku)

        def page(rows: list[Any]) -> list[dict[str, Any]]:
            return [v.to_dict() for v in stock_views(session, [r.sku for r in rows])]

        return paginate(session, stmt, dict, scalars=False, serialize_page=page)


@bp.post("/movements")
def post_movement() -> ResponseReturnValue:
    data = _movement_schema.load(json_body())
    settings = current_app.extensions["stockmirror"].settings
    actor = g.get("actor", "api")

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
                actor=actor,
                negative_policy=settings.negative_stock,
            )
        except MovementConflict as conflict:
            original = movement_json(conflict.original)
            raise ApiError(str(conflict), 409, original=original) from None
        except NegativeStockRefused as refused:
            raise ApiError(str(refused), 409, sku=refused.sku, on_hand=refused.on_hand) from None
        return movement_json(movement), created

    # run(): a deadlock with a concurrent release is retried, never a 5xx.
    body, created = db().run(work)
    return body, 201 if created else 200


@bp.get("/movements")
def list_movements() -> ResponseReturnValue:
    stmt = repo.movements_query(
        sku=request.args.get("sku") or None,
        order_id=int_arg("order_id"),
        types=list_arg("type", MOVEMENT_TYPES),
        account_id=request.args.get("account_id") or None,
        location=request.args.get("location") or None,
    )
    with db().read() as session:
        return paginate(session, stmt, movement_json)
