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
from typing import Any, NamedTuple

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from app.inputrules import dirty_strings, is_clean
from app.orders.domain import EVENT_TYPES, Line, OrderEvent
from app.orders.models import Order, OrderLine
from app.schemas import Money, StrictInt, Text, Time, flatten_errors
from app.timeutil import parse_time
from app.webhooks.models import InboxEvent

__all__ = ["flatten_errors", "load_order_event"]

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


class JsonObject(fields.Dict):
    """A schemaless JSON object (an address, a package) whose strings are free text:
    no NUL, other control characters or lone surrogates anywhere inside."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        problems = dict(dirty_strings(loaded, "", free_text=True))
        if problems:
            raise ValidationError({k.lstrip("."): [v] for k, v in problems.items()})
        return loaded


class ItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    item_id = StrictInt(OrderLine.item_id, load_default=None, allow_none=True)
    # No sku (or an empty one): a non-stock line (CONTRACT §2), loaded with sku None.
    sku = Text(OrderLine.sku, load_default=None, allow_none=True)
    description = Text(OrderLine.description, free_text=True, load_default=None, allow_none=True)
    quantity = StrictInt(OrderLine.quantity, required=True, minimum=0)
    quantity_shipped = StrictInt(OrderLine.quantity, load_default=None, allow_none=True, minimum=0)
    weight = fields.Float(load_default=None, allow_none=True, allow_nan=False)
    value = Money(OrderLine.value, load_default=None, allow_none=True)

    @pre_load
    def _empty_sku_is_no_sku(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and data.get("sku") == "":
            return {**data, "sku": None}
        return data


class OrderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    order_id = StrictInt(Order.order_id, required=True)
    order_number = Text(Order.order_number, allow_none=True)
    order_date = Time(allow_none=True)
    status = Text(Order.starshipit_status, min=0, blank=True, allow_none=True)
    reference = Text(Order.reference, min=0, blank=True, allow_none=True)
    platform = Text(Order.platform, min=0, blank=True, allow_none=True)
    carrier = Text(Order.carrier, min=0, blank=True, allow_none=True)
    carrier_name = Text(Order.carrier_name, min=0, blank=True, allow_none=True)
    destination = JsonObject(allow_none=True)
    packages = fields.List(JsonObject(), allow_none=True)
    items = fields.List(fields.Nested(ItemSchema), allow_none=True)


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = Text(InboxEvent.event_id, required=True)
    event_type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    occurred_at = Time(required=True)
    account_id = Text(InboxEvent.account_id, load_default="default")
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


class _TextRule(NamedTuple):
    shortest: int
    longest: int | None
    free_text: bool
    blank: bool


def _length(schema: Schema, name: str) -> _TextRule:
    """What a Text field of `schema` accepts: its Length rule and character rules."""
    field = schema.fields[name]
    assert isinstance(field, Text)
    for rule in field.validators:
        if isinstance(rule, validate.Length):
            return _TextRule(rule.min or 0, rule.max, field.free_text, field.blank)
    return _TextRule(0, None, field.free_text, field.blank)


def _bounds(schema: Schema, name: str) -> tuple[int, int]:
    field = schema.fields[name]
    assert isinstance(field, StrictInt)
    return field.minimum, field.maximum


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
_QUANTITY = _bounds(_item_schema, "quantity")
_SHIPPED = _bounds(_item_schema, "quantity_shipped")
_ITEM_ID = _bounds(_item_schema, "item_id")
_ORDER_ID = _bounds(_order_schema, "order_id")
_value_field = _item_schema.fields["value"]
assert isinstance(_value_field, Money) and isinstance(_value_field.places, Decimal)
_PLACES, _LARGEST_VALUE = _value_field.places, _value_field.largest


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
    order_id = _int(order.get("order_id"), _ORDER_ID)
    order_number = order.get("order_number")
    if order_number is not None:
        _text(order_number, _ORDER_NUMBER)
    elif event_type != "order_deleted":
        raise _Refer  # required for content events
    header = _plain_header(order)
    lines, details = _plain_items(order, event_type)
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


def _plain_header(order: dict[str, Any]) -> dict[str, Any]:
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
    return {k: header[k] for k in _HEADER_FIELDS if k in header}  # the schemas' key order


def _plain_items(order: dict[str, Any], event_type: str) -> tuple[list[Line], list[dict[str, Any]]]:
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
                sku=None if sku is None or sku == "" else _text(sku, _SKU),
                quantity=_int(item.get("quantity"), _QUANTITY),
                quantity_shipped=(
                    None if quantity_shipped is None else _int(quantity_shipped, _SHIPPED)
                ),
                item_id=None if item_id is None else _int(item_id, _ITEM_ID),
                description=None if description is None else _text(description, _DESCRIPTION),
            )
        )
        details.append({"weight": _weight(item.get("weight")), "value": _value(item.get("value"))})
    return lines, details


def _text(value: Any, rule: _TextRule) -> str:
    if type(value) is not str or len(value) < rule.shortest:
        raise _Refer
    if rule.longest is not None and len(value) > rule.longest:
        raise _Refer
    if not is_clean(value, free_text=rule.free_text):
        raise _Refer
    if not rule.blank and not value.strip():
        raise _Refer
    return value


def _int(value: Any, bounds: tuple[int, int]) -> int:
    if type(value) is not int or not bounds[0] <= value <= bounds[1]:
        raise _Refer
    return value


def _time(value: Any) -> Any:
    if type(value) is not str or not is_clean(value):
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
    for _ in dirty_strings(value, "", free_text=True):
        raise _Refer
    return dict(value)


def _weight(value: Any) -> float | None:
    return None if value is None else _finite(value)


def _value(value: Any) -> Decimal | None:
    if value is None:
        return None
    _finite(value)
    try:
        number = Decimal(str(value)).quantize(_PLACES)
    except ArithmeticError:
        raise _Refer from None
    if abs(number) > _LARGEST_VALUE:
        raise _Refer
    return number


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
