"""Shared marshmallow fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields

from app.timeutil import parse_time

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Time(fields.Field):
    """RFC 3339 time; no zone means UTC; 7 fractional digits accepted."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise ValidationError("must be an RFC 3339 time string")
        try:
            return parse_time(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class StrictInt(fields.Integer):
    """An integer that must arrive as a JSON integer (not a string, float or boolean)."""

    def __init__(self, *, minimum: int | None = None, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)
        self.minimum = minimum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValidationError("must fit in 64 bits")
        if self.minimum is not None and value < self.minimum:
            raise ValidationError(f"must be at least {self.minimum}")
        return value
