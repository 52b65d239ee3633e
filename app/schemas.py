"""Shared marshmallow fields and schemas: every request field is checked against what
the column that stores it holds (CONTRACT §2 input rules, app/inputrules.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.columns import column_length, column_type, int_bounds
from app.inputrules import INT64, decimal_bounds, int_problem, text_pattern, text_problem
from app.timeutil import parse_time

INT64_MIN, INT64_MAX = INT64


def _rules(given: Any) -> list[Any]:
    if given is None:
        return []
    return list(given) if isinstance(given, list | tuple) else [given]


class Text(fields.String):
    """A string the database can store: no NUL, control characters (tab, CR and LF only
    when `free_text`) or lone surrogates; not blank unless `blank`; at most the length of
    `column` (or `max`)."""

    def __init__(
        self,
        column: Any = None,
        *,
        free_text: bool = False,
        blank: bool | None = None,
        min: int | None = None,  # noqa: A002 - marshmallow's own wording
        max: int | None = None,  # noqa: A002
        **kwargs: Any,
    ) -> None:
        longest = max
        if longest is None and column is not None:
            longest = column_length(column)
        shortest = 0 if free_text else 1 if min is None else min
        rules = _rules(kwargs.pop("validate", None))
        if longest is not None or shortest:
            rules.insert(0, validate.Length(min=shortest, max=longest))
        self.free_text = free_text
        self.blank = free_text if blank is None else blank
        metadata = dict(kwargs.pop("metadata", None) or {})
        metadata.setdefault("pattern", text_pattern(free_text=free_text, blank=self.blank))
        super().__init__(validate=rules, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("must be a string")
        problem = text_problem(value, free_text=self.free_text, blank=self.blank)
        if problem:
            raise ValidationError(problem)
        return value


class StrictBool(fields.Boolean):
    """A JSON true or false (not 0, 1 or a string)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class StrictInt(fields.Integer):
    """An integer that must arrive as a JSON integer (not a string, float or boolean),
    within the range of `column` (int64 when none is named) and above `minimum`."""

    def __init__(
        self,
        column: Any = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        **kwargs: Any,
    ) -> None:
        low, high = int_bounds(column) if column is not None else INT64
        self.minimum = low if minimum is None else max(low, minimum)
        self.maximum = high if maximum is None else min(high, maximum)
        rules = _rules(kwargs.pop("validate", None))
        rules.insert(0, validate.Range(min=self.minimum, max=self.maximum))  # documented
        super().__init__(strict=True, validate=rules, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be an integer")
        problem = int_problem(value, (self.minimum, self.maximum))
        if problem:
            raise ValidationError(problem)
        return value


class Money(fields.Decimal):
    """A finite number within the precision and scale of a Numeric `column`."""

    def __init__(self, column: Any, **kwargs: Any) -> None:
        kind = column_type(column)
        self.largest = decimal_bounds(kind.precision, kind.scale)
        super().__init__(places=kind.scale, allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValidationError("must be a number")
        number = super()._deserialize(value, attr, data, **kwargs)
        if number is not None and abs(number) > self.largest:
            raise ValidationError(f"must be between -{self.largest} and {self.largest}")
        return number


class Time(fields.Field):
    """RFC 3339 time; no zone means UTC; 7 fractional digits accepted; within
    [earliest, latest) when given."""

    def __init__(
        self,
        *,
        earliest: datetime | None = None,
        latest: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.earliest, self.latest = earliest, latest

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = self._parse(value)
        if (self.earliest and moment < self.earliest) or (self.latest and moment >= self.latest):
            raise ValidationError(f"must be from {self.earliest} up to {self.latest}")
        return moment

    def _parse(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("must be an RFC 3339 time string")
        problem = text_problem(value)
        if problem:
            raise ValidationError(problem)
        try:
            return parse_time(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class Strict(Schema):
    """Request schemas: an unknown field is refused, named (a typo never widens a filter)."""

    class Meta:
        unknown = RAISE


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
