"""Allocation API (CONTRACT §4: release, deallocate, releases; pick lists; auto rules)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.allocation import repository as repo
from app.allocation import views
from app.allocation.config import AllocationConfig, config_for_engine
from app.allocation.service import (
    MAX_BATCH,
    AllocationOff,
    OrderNotFound,
    ReleaseFilter,
    deallocate,
    release_order,
    release_orders,
)
from app.allocation.views import decorate_detail, picklist, released_body
from app.api.common import account_id, db, json_body
from app.errors import ApiError
from app.orders.domain import ALLOCATION_STATUSES, ORDER_STATUSES
from app.orders.models import Order
from app.orders.repository import get_order
from app.orders.views import order_detail
from app.schemas import StrictInt

bp = Blueprint("allocation_api", __name__, url_prefix="/api")


def _config() -> AllocationConfig:
    return config_for_engine(db().engine)


def _actor() -> str:
    return "api"


class ReleaseOneSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    allow_partial = fields.Boolean(load_default=False)


class FilterSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.List(
        fields.String(validate=validate.OneOf(ORDER_STATUSES)), load_default=["PENDING"]
    )
    allocation_status = fields.List(
        fields.String(validate=validate.OneOf(ALLOCATION_STATUSES)), load_default=[]
    )
    allocatable = fields.Boolean(load_default=None, allow_none=True)
    platform = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))
    limit = StrictInt(load_default=MAX_BATCH, minimum=1)

    @validates_schema
    def _limit(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("limit", 0) > MAX_BATCH:
            raise ValidationError(f"must be at most {MAX_BATCH}", "limit")


class ReleasesSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    order_ids = fields.List(
        StrictInt(minimum=1), load_default=None, validate=validate.Length(1, MAX_BATCH)
    )
    filter = fields.Nested(FilterSchema, load_default=None)
    allow_partial = fields.Boolean(load_default=False)

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("order_ids") is None) == (data.get("filter") is None):
            raise ValidationError("give exactly one of order_ids or filter", "order_ids")


class RuleSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 200))
    account_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(1, 100)
    )
    platform = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))
    country = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))
    allow_partial = fields.Boolean(load_default=False)
    enabled = fields.Boolean(load_default=True)


_release_one = ReleaseOneSchema()
_releases = ReleasesSchema()
_rule = RuleSchema()


def _order_body(order_id: int) -> dict[str, Any]:
    acct = account_id()
    with db().read() as session:
        order = get_order(session, acct, order_id)
        if order is None:
            raise ApiError(f"order {order_id} not found in account {acct!r}", 404)
        return decorate_detail(session, order, order_detail(session, order))


@bp.post("/orders/<int:order_id>/release")
def release_one(order_id: int) -> ResponseReturnValue:
    data = _release_one.load(json_body())
    try:
        outcome = release_order(
            db(),
            _config(),
            account_id=account_id(),
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
    return _order_body(order_id)


@bp.post("/orders/<int:order_id>/deallocate")
def deallocate_one(order_id: int) -> ResponseReturnValue:
    try:
        deallocate(db(), account_id=account_id(), order_id=order_id, actor=_actor())
    except OrderNotFound as error:
        raise ApiError(str(error), 404) from None
    return _order_body(order_id)


@bp.get("/orders/<int:order_id>/picklist")
def order_picklist(order_id: int) -> ResponseReturnValue:
    acct = account_id()
    with db().read() as session:
        order: Order | None = get_order(session, acct, order_id)
        if order is None:
            raise ApiError(f"order {order_id} not found in account {acct!r}", 404)
        lines = picklist(repo.pick_rows(session, order_pk=order.id))
        return {
            "order_id": order.order_id,
            "order_number": order.order_number,
            "status": order.status,
            "allocation_status": order.allocation_status,
            "lines": lines,
        }


@bp.post("/releases")
def create_release() -> ResponseReturnValue:
    data = _releases.load(json_body())
    f = data.get("filter")
    try:
        result = release_orders(
            db(),
            _config(),
            account_id=account_id(),
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
def release_picklist(release_id: int) -> ResponseReturnValue:
    with db().read() as session:
        body = views.release_picklist(session, account_id(), release_id)
    if body is None:
        raise ApiError(f"release {release_id} not found", 404)
    return body


def _rule_json(rule: Any, source: str) -> dict[str, Any]:
    return {
        "id": rule.id,
        "source": source,
        "name": rule.name,
        "account_id": rule.account_id,
        "platform": rule.platform,
        "country": rule.country,
        "allow_partial": rule.allow_partial,
        "enabled": rule.enabled,
    }


@bp.get("/allocation/rules")
def list_rules() -> ResponseReturnValue:
    config = _config()
    with db().read() as session:
        stored = [_rule_json(r, "api") for r in repo.rules(session)]
    return {
        "mode": config.mode,
        "default_strategy": config.default_strategy,
        "items": [_rule_json(r, "file") for r in config.file_rules] + stored,
    }


@bp.post("/allocation/rules")
def create_rule() -> ResponseReturnValue:
    data = _rule.load(json_body())
    with db().write() as session:
        rule = repo.add_rule(session, data)
        body = _rule_json(rule, "api")
    return body, 201


@bp.delete("/allocation/rules/<int:rule_id>")
def delete_rule(rule_id: int) -> ResponseReturnValue:
    with db().write() as session:
        if not repo.delete_rule(session, rule_id):
            raise ApiError(f"rule {rule_id} not found", 404)
    return "", 204
