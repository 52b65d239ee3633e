"""What the API answers, as schemas for the OpenAPI document (responses may carry more)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from app.api.openapi import Out


def _s(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, **kwargs)


def _i(**kwargs: Any) -> fields.Integer:
    return fields.Integer(allow_none=True, **kwargs)


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A paginated list of `item` (CONTRACT §4)."""
    return type(
        name,
        (Out,),
        {
            "items": fields.List(fields.Nested(item), required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
        },
    )


class OrderSummary(Out):
    order_id = fields.Integer(required=True)
    order_number = _s()
    account_id = fields.String(required=True)
    status = fields.String(required=True)
    allocation_status = fields.String(required=True)
    order_date = _s()
    insufficient_inventory = fields.List(fields.Dict())


class OrderLineBody(Out):
    sku = _s(required=True)
    quantity = fields.Integer(required=True)
    quantity_shipped = fields.Integer(required=True)
    quantity_allocated = fields.Integer(required=True)


class TimelineBody(Out):
    at = _s()
    kind = fields.String()
    detail = fields.String()
    event_id = _s()


class OrderDetail(OrderSummary):
    lines = fields.List(fields.Nested(OrderLineBody), required=True)
    timeline = fields.List(fields.Nested(TimelineBody), required=True)
    shipped = fields.Dict(keys=fields.String(), values=fields.Integer())


OrderPage = page_of(OrderSummary, "OrderPage")


class LocationStock(Out):
    location = fields.String(required=True)
    batch = _s()
    on_hand = fields.Integer(required=True)
    allocated = fields.Integer(required=True)
    available = fields.Integer(required=True)


class StockBody(Out):
    sku = fields.String(required=True)
    on_hand = fields.Integer(required=True)
    allocated = fields.Integer(required=True)
    available = fields.Integer(required=True)
    flags = fields.List(fields.String(), required=True)
    locations = fields.List(fields.Nested(LocationStock), required=True)


StockPage = page_of(StockBody, "StockPage")


class MovementBody(Out):
    id = fields.Integer(required=True)
    sku = fields.String(required=True)
    location = fields.String(required=True)
    batch = _s()
    quantity = fields.Integer(required=True)
    type = fields.String(required=True)
    reference = _s()
    reason = _s()
    account_id = _s()
    order_id = _i()
    event_id = _s()
    created_at = _s()


MovementPage = page_of(MovementBody, "MovementPage")


class MovementsBody(Out):
    reference = fields.String(required=True)
    movements = fields.List(fields.Nested(MovementBody), required=True)


class EventBody(Out):
    event_id = fields.String(required=True)
    account_id = fields.String(required=True)
    source = fields.String()
    event_type = fields.String()
    status = fields.String(required=True)
    reason = _s()
    order_id = _i()
    order_number = _s()
    attempts = _i()
    payload = fields.Raw()


EventPage = page_of(EventBody, "EventPage")


class ConflictBody(Out):
    event_id = fields.String(required=True)
    account_id = fields.String(required=True)
    received_at = _s()
    payload = fields.Raw()


ConflictPage = page_of(ConflictBody, "ConflictPage")


class WebhookAnswer(Out):
    status = fields.String(required=True)
    event_id = fields.String(required=True)
    reason = fields.String()


class RunBody(Out):
    id = fields.Integer(required=True)
    account_id = fields.String()
    status = fields.String(required=True)
    started_at = _s()
    finished_at = _s()
    window = fields.Dict()
    summary = fields.Dict()
    error = _s()


class DriftBody(Out):
    id = fields.Integer()
    category = fields.String(required=True)
    order_id = _i()
    order_number = _s()
    sku = _s()
    expected = _s()
    actual = _s()
    detail = _s()


class RunDetail(RunBody):
    drift = fields.List(fields.Nested(DriftBody), required=True)
    drift_total = fields.Integer()


RunPage = page_of(RunBody, "RunPage")


class RunStarted(Out):
    id = fields.Integer(required=True)
    status = fields.String(required=True)


class ImportBody(Out):
    rows = fields.Integer(required=True)
    movements = fields.Integer(required=True)
    already_imported = fields.Boolean(required=True)
    digest = fields.String(required=True)


class ListBody(Out):
    items = fields.List(fields.Dict(), required=True)
    total = fields.Integer()
