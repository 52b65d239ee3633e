"""Validation of Starshipit's order event envelope (CONTRACT §2). Unknown fields ignored."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.orders.domain import EVENT_TYPES, Line, OrderEvent
from app.schemas import StrictInt, Time

_HEADER_FIELDS = (
    "order_date",
    "status",
    "reference",
    "platform",
    "carrier",
    "carrier_name",
    "destination",
    "packages",
)


class ItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    item_id = StrictInt(load_default=None, allow_none=True)
    sku = fields.String(required=True, validate=validate.Length(min=1, max=50))
    description = fields.String(load_default=None, allow_none=True)
    quantity = StrictInt(required=True, minimum=0)
    quantity_shipped = StrictInt(load_default=None, allow_none=True, minimum=0)
    weight = fields.Float(load_default=None, allow_none=True, allow_nan=False)
    value = fields.Decimal(load_default=None, allow_none=True, allow_nan=False, places=4)


class OrderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    order_id = StrictInt(required=True)
    order_number = fields.String(validate=validate.Length(min=1, max=100), allow_none=True)
    order_date = Time(allow_none=True)
    status = fields.String(allow_none=True)
    reference = fields.String(allow_none=True, validate=validate.Length(max=200))
    platform = fields.String(allow_none=True, validate=validate.Length(max=100))
    carrier = fields.String(allow_none=True, validate=validate.Length(max=100))
    carrier_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    destination = fields.Dict(allow_none=True)
    packages = fields.List(fields.Dict(), allow_none=True)
    items = fields.List(fields.Nested(ItemSchema), allow_none=True)


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    event_type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    occurred_at = Time(required=True)
    account_id = fields.String(load_default="default", validate=validate.Length(min=1, max=100))
    order = fields.Nested(OrderSchema, required=True)

    @validates_schema
    def _order_requirements(self, data: dict[str, Any], **_: Any) -> None:
        order = data.get("order") or {}
        if data.get("event_type") == "order_deleted":
            return
        errors: dict[str, list[str]] = {}
        if not order.get("order_number"):
            errors["order.order_number"] = [f"required for {data.get('event_type')}"]
        if order.get("items") is None:
            errors["order.items"] = [f"required for {data.get('event_type')}"]
        if errors:
            raise ValidationError(errors)


_envelope = EnvelopeSchema()


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """{'order': {'items': {0: {'sku': [..]}}}} → {'order.items[0].sku': [..]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                flat.update(flatten_errors(value, name))
            else:
                flat[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def load_order_event(document: Any) -> OrderEvent:
    """Validate a decoded envelope; raises ValidationError with flattened field names."""
    if not isinstance(document, dict):
        raise ValidationError({"_schema": ["body must be a JSON object"]})
    try:
        data = _envelope.load(document)
    except ValidationError as exc:
        raise ValidationError(flatten_errors(exc.messages)) from None
    order = data["order"]
    items = order.get("items") or []
    lines = tuple(
        Line(
            sku=item["sku"],
            quantity=item["quantity"],
            quantity_shipped=item["quantity_shipped"],
            item_id=item["item_id"],
            description=item["description"],
        )
        for item in items
    )
    details = tuple({"weight": i["weight"], "value": i["value"]} for i in items)
    return OrderEvent(
        event_id=data["event_id"],
        event_type=data["event_type"],
        occurred_at=data["occurred_at"],
        account_id=data["account_id"],
        order_id=order["order_id"],
        order_number=order.get("order_number"),
        lines=lines,
        header={k: order[k] for k in _HEADER_FIELDS if k in order},
        line_details=details,
    )
