"""Allocation API (CONTRACT §4: release, deallocate, releases; pick lists; auto rules)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError, fields, validate, validates_schema

from app.allocation import queries, rules
from app.allocation.config import AllocationConfig
from app.allocation.models import AllocationRule
from app.allocation.service import (
    MAX_BATCH,
    AllocationOff,
    OrderNotFound,
    ReleaseFilter,
    deallocate,
    release_order,
    release_orders,
)
from app.allocation.views import released_body
from app.api.bodies import ListBody, OrderDetail
from app.api.common import AccountQuery, db
from app.api.openapi import Anything, operation
from app.api.orders import order_or_404
from app.errors import ApiError
from app.orders.domain import ALLOCATION_STATUSES, ORDER_STATUSES, OrderStatus
from app.orders.models import Order
from app.schemas import Strict, StrictBool, StrictInt, Text

bp = Blueprint("allocation_api", __name__, url_prefix="/api")


def _config() -> AllocationConfig:
    config: AllocationConfig = current_app.extensions["stockmirror"].allocation
    return config


def _actor() -> str:
    return "api"


class ReleaseOneSchema(Strict):
    allow_partial = StrictBool(load_default=False)


class FilterSchema(Strict):
    status = fields.List(
        fields.String(validate=validate.OneOf(ORDER_STATUSES)),
        load_default=[OrderStatus.PENDING.value],
    )
    allocation_status = fields.List(
        fields.String(validate=validate.OneOf(ALLOCATION_STATUSES)), load_default=[]
    )
    allocatable = StrictBool(load_default=None, allow_none=True)
    platform = Text(Order.platform, load_default=None, allow_none=True)
    limit = StrictInt(load_default=MAX_BATCH, minimum=1, maximum=MAX_BATCH)


class ReleasesSchema(Strict):
    order_ids = fields.List(
        StrictInt(Order.order_id, minimum=1),
        load_default=None,
        validate=validate.Length(1, MAX_BATCH),
    )
    filter = fields.Nested(FilterSchema, load_default=None)
    allow_partial = StrictBool(load_default=False)

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("order_ids") is None) == (data.get("filter") is None):
            raise ValidationError("give exactly one of order_ids or filter", "order_ids")


class RuleSchema(Strict):
    name = Text(AllocationRule.name, load_default=None, allow_none=True)
    account_id = Text(AllocationRule.account_id, load_default=None, allow_none=True)
    platform = Text(AllocationRule.platform, load_default=None, allow_none=True)
    country = Text(AllocationRule.country, load_default=None, allow_none=True)
    allow_partial = StrictBool(load_default=False)
    enabled = StrictBool(load_default=True)


@bp.post("/orders/<int:order_id>/release")
@operation(
    "Allocate an order (all lines or nothing unless allow_partial)",
    query=AccountQuery,
    body=ReleaseOneSchema,
    body_optional=True,
    responses={200: OrderDetail},
    errors=(404, 409),
)
def release_one(order_id: int, query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data = body
    try:
        outcome = release_order(
            db(),
            _config(),
            account_id=query["account_id"],
            order_id=order_id,
            allow_partial=data["allow_partial"],
            actor=_actor(),
        )
    except AllocationOff as error:
        raise ApiError(str(error), 409) from None
    except OrderNotFound as error:
        raise ApiError(str(error), 404) from None
    if outcome.outcome == "short":
        raise ApiError(
            f"insufficient stock for order {order_id}",
            409,
            shortages=outcome.shortages,
            allocation_status=outcome.allocation_status,
        )
    if outcome.outcome == "skipped" and outcome.reason != "already allocated":
        raise ApiError(f"order {order_id} cannot be released: {outcome.reason}", 409)
    if outcome.summary is not None:
        return released_body(outcome)
    return order_or_404(query["account_id"], order_id)


@bp.post("/orders/<int:order_id>/deallocate")
@operation(
    "Release an order's allocations",
    query=AccountQuery,
    body=Strict,
    body_optional=True,
    responses={200: OrderDetail},
    errors=(404,),
)
def deallocate_one(
    order_id: int, query: dict[str, Any], body: dict[str, Any]
) -> ResponseReturnValue:
    try:
        deallocate(db(), account_id=query["account_id"], order_id=order_id, actor=_actor())
    except OrderNotFound as error:
        raise ApiError(str(error), 404) from None
    return order_or_404(query["account_id"], order_id)


@bp.get("/orders/<int:order_id>/picklist")
@operation("An order's pick list", query=AccountQuery, errors=(404,))
def order_picklist(order_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    acct = query["account_id"]
    with db().read() as session:
        body = queries.order_picklist(session, acct, order_id)
    if body is None:
        raise ApiError(f"order {order_id} not found in account {acct!r}", 404)
    return body


@bp.post("/releases")
@operation(
    "Release many orders (order_ids or a filter), oldest order_date first",
    query=AccountQuery,
    body=ReleasesSchema,
    errors=(409,),
)
def create_release(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data = body
    f = data.get("filter")
    try:
        result = release_orders(
            db(),
            _config(),
            account_id=query["account_id"],
            order_ids=data.get("order_ids"),
            filter_=ReleaseFilter(
                status=tuple(f["status"]),
                allocation_status=tuple(f["allocation_status"]),
                allocatable=f["allocatable"],
                platform=f["platform"],
                limit=f["limit"],
            )
            if f is not None
            else None,
            allow_partial=data["allow_partial"],
            actor=_actor(),
        )
    except AllocationOff as error:
        raise ApiError(str(error), 409) from None
    return result.to_dict()


@bp.get("/releases/<int:release_id>/picklist")
@operation("A release's pick list", query=AccountQuery, errors=(404,))
def release_picklist(release_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        body = queries.release_picklist(session, query["account_id"], release_id)
    if body is None:
        raise ApiError(f"release {release_id} not found", 404)
    return body


@bp.get("/allocation/rules")
@operation("Allocation mode, default strategy and auto rules", responses={200: ListBody})
def list_rules(query: dict[str, Any]) -> ResponseReturnValue:
    config = _config()
    with db().read() as session:
        stored = queries.stored_rules(session)
    return {
        "mode": config.mode,
        "default_strategy": config.default_strategy,
        "items": [queries.rule_json(r, "file") for r in config.file_rules] + stored,
    }


@bp.post("/allocation/rules")
@operation("Add an auto-allocation rule", body=RuleSchema, responses={201: Anything})
def create_rule(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    return rules.add_rule(db(), body), 201


@bp.delete("/allocation/rules/<int:rule_id>")
@operation("Delete a stored auto-allocation rule", responses={204: None}, errors=(404,))
def delete_rule(rule_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    if not rules.delete_rule(db(), rule_id):
        raise ApiError(f"rule {rule_id} not found", 404)
    return "", 204
