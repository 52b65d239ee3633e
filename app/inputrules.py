"""What any string or number from outside may be (CONTRACT §2 input rules). Pure Python.

The one home of the character and range rules: the marshmallow fields in app/schemas.py,
the webhook fast path, query strings, path segments and CSV cells all call these.

- Text: no NUL, no other control character (C0, DEL, C1) and no lone surrogate. Free-text
  fields (description, reason, note, addresses) may also hold tab, CR and LF.
- Names (SKUs, references, location codes...): not blank (whitespace only is refused).
- Integers: within the range of the column that stores them (int32, int64).
- Decimals: within the precision and scale of their Numeric column.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# A JSON escape of a UTF-16 surrogate: only then can a decoded document hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def text_pattern(*, free_text: bool = False, blank: bool = True) -> str:
    """The text rules as a JSON Schema (ECMA 262) pattern, for the OpenAPI document."""
    allowed = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]"
    if not free_text:
        allowed = r"[^\u0000-\u001f\u007f-\u009f\ud800-\udfff]"
    if blank:
        return f"^{allowed}*$"
    visible = allowed[:-1] + r"\s]"
    return f"^{allowed}*{visible}{allowed}*$"


def is_clean(value: str, *, free_text: bool = False) -> bool:
    """Whether `value` has no character the contract refuses (the fast check)."""
    return (_NOT_FREE_TEXT if free_text else _NOT_TEXT).search(value) is None


def text_problem(value: str, *, free_text: bool = False, blank: bool = True) -> str | None:
    """Why `value` is not acceptable text, or None."""
    bad = (_NOT_FREE_TEXT if free_text else _NOT_TEXT).search(value)
    if bad is not None:
        char = bad.group()
        if "\ud800" <= char <= "\udfff":
            return "must not contain a lone UTF-16 surrogate"
        if char == "\x00":
            return "must not contain NUL characters"
        return f"must not contain control characters (found U+{ord(char):04X})"
    if not blank and value and not value.strip():
        return "must not be blank"
    return None


def int_problem(value: int, bounds: tuple[int, int]) -> str | None:
    low, high = bounds
    if value < low or value > high:
        return f"must be between {low} and {high}"
    return None


def decimal_bounds(precision: int, scale: int) -> Decimal:
    """The largest magnitude a Numeric(precision, scale) column holds."""
    return Decimal(10) ** (precision - scale) - Decimal(10) ** -scale


def may_hold_lone_surrogate(raw: bytes) -> bool:
    """False when a JSON text certainly decodes to strings without lone surrogates."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def lone_surrogates(document: Any, path: str = "") -> Iterator[str]:
    """The paths of every key or string in a decoded JSON document holding a lone
    surrogate (which no UTF-8 database, log or response can carry)."""
    stack: list[tuple[str, Any]] = [(path, document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                yield where or "_schema"
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else str(key)
                if _has_surrogate(str(key)):
                    yield name
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def _has_surrogate(value: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in value)


def dirty_strings(document: Any, path: str, *, free_text: bool) -> Iterator[tuple[str, str]]:
    """(path, problem) of every string (and key) under `document` that breaks the text
    rules: for schemaless parts such as an order's destination or packages."""
    stack: list[tuple[str, Any]] = [(path, document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value, free_text=free_text)
            if problem:
                yield where, problem
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}"
                problem = text_problem(str(key))
                if problem:
                    yield name, problem
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


MAX_JSON_DEPTH = 64


def load_json(raw: bytes) -> Any:
    """Decode a JSON body: UTF-8, no NaN/Infinity, at most MAX_JSON_DEPTH levels deep.
    Raises ValueError with a short reason (never the body)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{error.msg} at line {error.lineno} column {error.colno}") from None
    if _too_deep(document):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return document


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]} is beyond the range of a JSON number")
    return number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(document: Any) -> bool:
    level: list[Any] = [document]
    for _ in range(MAX_JSON_DEPTH):
        below: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                below.extend(v for v in value.values() if isinstance(v, dict | list))
            elif isinstance(value, list):
                below.extend(v for v in value if isinstance(v, dict | list))
        if not below:
            return False
        level = below
    return True
