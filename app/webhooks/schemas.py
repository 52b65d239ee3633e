"""Validation of Starshipit's order event envelope (CONTRACT §2). Unknown fields ignored.

The marshmallow schemas below define what is valid and word every error. Webhook ingest
is a hot path and a schema load costs more CPU than storing the event, so
`load_order_event` first tries `_plain_event`: plain Python that accepts only documents
the schemas certainly accept, builds the same OrderEvent, and otherwise hands the
document to the schemas. A property test holds the two to the same answers.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.orders.domain import EVENT_TYPES, Line, OrderEvent
from app.schemas import INT64_MAX, INT64_MIN, StrictInt, Time
from app.timeutil import parse_time

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
    # No sku (or an empty one): a non-stock line (CONTRACT §2), loaded with sku None.
    sku = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=50))
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
    event = _plain_event(document)
    return event if event is not None else _schema_event(document)


def _schema_event(document: Any) -> OrderEvent:
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
            sku=item["sku"] or None,
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


class _Refer(Exception):
    """The plain check is not sure: the schemas decide (and word any error)."""


def _length(schema: Schema, name: str) -> tuple[int, int | None]:
    """(shortest, longest) a string field of `schema` accepts, from its Length rule."""
    for rule in schema.fields[name].validators:
        if isinstance(rule, validate.Length):
            return rule.min or 0, rule.max
    return 0, None


def _minimum(schema: Schema, name: str) -> int | None:
    field = schema.fields[name]
    assert isinstance(field, StrictInt)
    return field.minimum


# What the plain check needs of the schemas, read from them once.
_order_schema, _item_schema = OrderSchema(), ItemSchema()
_EVENT_ID = _length(_envelope, "event_id")
_ACCOUNT_ID = _length(_envelope, "account_id")
_ORDER_NUMBER = _length(_order_schema, "order_number")
_HEADER_TEXT = tuple(
    (name, _length(_order_schema, name))
    for name in ("status", "reference", "platform", "carrier", "carrier_name")
)
_SKU = _length(_item_schema, "sku")
_DESCRIPTION = _length(_item_schema, "description")
_QUANTITY_MIN = _minimum(_item_schema, "quantity")
_SHIPPED_MIN = _minimum(_item_schema, "quantity_shipped")
_ITEM_ID_MIN = _minimum(_item_schema, "item_id")
_ORDER_ID_MIN = _minimum(_order_schema, "order_id")
_value_field = _item_schema.fields["value"]
assert isinstance(_value_field, fields.Decimal) and isinstance(_value_field.places, Decimal)
_PLACES = _value_field.places


def _plain_event(document: Any) -> OrderEvent | None:
    """The OrderEvent the schemas would load from `document` when it is plainly valid
    (every field of the type and size the schemas want); None when in any doubt."""
    try:
        return _plain_event_or_refer(document)
    except _Refer:
        return None


def _plain_event_or_refer(doc: Any) -> OrderEvent:
    if type(doc) is not dict:
        raise _Refer
    event_id = _text(doc.get("event_id"), _EVENT_ID)
    event_type = doc.get("event_type")
    if event_type not in EVENT_TYPES:
        raise _Refer
    occurred_at = _time(doc.get("occurred_at"))
    account_id = _text(doc["account_id"], _ACCOUNT_ID) if "account_id" in doc else "default"
    order = doc.get("order")
    if type(order) is not dict:
        raise _Refer
    order_id = _int(order.get("order_id"), _ORDER_ID_MIN)
    order_number = order.get("order_number")
    if order_number is not None:
        _text(order_number, _ORDER_NUMBER)
    elif event_type != "order_deleted":
        raise _Refer  # required for content events
    header: dict[str, Any] = {}
    for name, length in _HEADER_TEXT:
        if name in order:
            value = order[name]
            header[name] = None if value is None else _text(value, length)
    if "order_date" in order:
        header["order_date"] = None if order["order_date"] is None else _time(order["order_date"])
    if "destination" in order:
        header["destination"] = _optional_dict(order["destination"])
    if "packages" in order:
        packages = order["packages"]
        if packages is not None:
            if type(packages) is not list:
                raise _Refer
            packages = [_optional_dict(p, nullable=False) for p in packages]
        header["packages"] = packages
    items = order.get("items")
    if items is None:
        if event_type != "order_deleted":
            raise _Refer  # required for content events
        items = []
    elif type(items) is not list:
        raise _Refer
    lines, details = [], []
    for item in items:
        if type(item) is not dict:
            raise _Refer
        item_id = item.get("item_id")
        description = item.get("description")
        quantity_shipped = item.get("quantity_shipped")
        sku = item.get("sku")
        lines.append(
            Line(
                sku=None if sku is None else _text(sku, _SKU) or None,
                quantity=_int(item.get("quantity"), _QUANTITY_MIN),
                quantity_shipped=(
                    None if quantity_shipped is None else _int(quantity_shipped, _SHIPPED_MIN)
                ),
                item_id=None if item_id is None else _int(item_id, _ITEM_ID_MIN),
                description=None if description is None else _text(description, _DESCRIPTION),
            )
        )
        details.append({"weight": _weight(item.get("weight")), "value": _value(item.get("value"))})
    header = {k: header[k] for k in _HEADER_FIELDS if k in header}  # the schemas' key order
    return OrderEvent(
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        account_id=account_id,
        order_id=order_id,
        order_number=order_number,
        lines=tuple(lines),
        header=header,
        line_details=tuple(details),
    )


def _text(value: Any, length: tuple[int, int | None]) -> str:
    shortest, longest = length
    if type(value) is not str or len(value) < shortest:
        raise _Refer
    if longest is not None and len(value) > longest:
        raise _Refer
    return value


def _int(value: Any, minimum: int | None = None) -> int:
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise _Refer
    if minimum is not None and value < minimum:
        raise _Refer
    return value


def _time(value: Any) -> Any:
    if type(value) is not str:
        raise _Refer
    try:
        return parse_time(value)
    except ValueError:
        raise _Refer from None


def _optional_dict(value: Any, *, nullable: bool = True) -> dict[str, Any] | None:
    if value is None and nullable:
        return None
    if type(value) is not dict:
        raise _Refer
    return dict(value)


def _weight(value: Any) -> float | None:
    return None if value is None else _finite(value)


def _value(value: Any) -> Decimal | None:
    if value is None:
        return None
    _finite(value)
    try:
        return Decimal(str(value)).quantize(_PLACES)
    except ArithmeticError:
        raise _Refer from None


def _finite(value: Any) -> float:
    if type(value) not in (int, float):
        raise _Refer
    try:
        number = float(value)
    except OverflowError:
        raise _Refer from None
    if not math.isfinite(number):
        raise _Refer
    return number
