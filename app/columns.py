"""What a column holds: the limits request checks read from the models (one home)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.inputrules import INT32, INT64


def column_type(column: Any) -> Any:
    """The SQL type of `Model.attribute` (or a Column), through TypeDecorators."""
    col = getattr(column, "expression", column)  # InstrumentedAttribute → Column
    kind = col.type
    return getattr(kind, "impl", kind) if isinstance(kind, sa.TypeDecorator) else kind


def column_length(column: Any) -> int:
    """The length of a String column."""
    length = getattr(column_type(column), "length", None)
    assert length is not None, f"{column} has no length"
    return int(length)


def int_bounds(column: Any) -> tuple[int, int]:
    """The range of an integer column: int32 for Integer, int64 for BigInteger."""
    kind = column_type(column)
    if isinstance(kind, sa.BigInteger):
        return INT64
    if isinstance(kind, sa.Integer):
        return INT32
    raise TypeError(f"{column} is not an integer column")
