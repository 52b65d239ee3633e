"""Reading console query strings and forms: a value that cannot be used answers 422
naming the field (a typo never widens a filter), on a page, not a traceback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo

from flask import abort, current_app, request
from werkzeug.datastructures import MultiDict

MAX_TEXT = 200


def refuse(field: str, why: str) -> NoReturn:
    abort(422, description=f"{field}: {why}")


def _clean(field: str, raw: str, max_len: int, free_text: bool = False) -> str:
    if len(raw) > max_len:
        refuse(field, f"at most {max_len} characters")
    allowed = "\t\r\n" if free_text else ""
    if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in raw):
        refuse(field, "control characters are not allowed")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in raw):
        refuse(field, "not valid text")
    return raw


def text(
    field: str, source: MultiDict[str, str] | None = None, max_len: int = MAX_TEXT
) -> str | None:
    raw = (source if source is not None else request.args).get(field, "")
    value = _clean(field, raw, max_len).strip()
    return value or None


def free_text(field: str, max_len: int) -> str:
    return _clean(field, request.form.get(field, ""), max_len, free_text=True)


def choices(field: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """Repeated or comma-separated values, each one of `allowed`."""
    values: list[str] = []
    for raw in request.args.getlist(field):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    wrong = [v for v in values if v not in allowed]
    if wrong:
        refuse(field, f"unknown value {wrong[0][:50]!r}; one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def choice(field: str, allowed: Sequence[str], default: str) -> str:
    value = request.args.get(field, "").strip() or default
    if value not in allowed:
        refuse(field, f"one of {', '.join(allowed)}")
    return value


def flag(field: str) -> bool:
    value = request.args.get(field, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    refuse(field, "yes or no")


def whole(field: str, default: int, minimum: int = 1, maximum: int = 10**9) -> int:
    raw = request.args.get(field, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 10:
        refuse(field, "a whole number")
    value = int(raw)
    if not minimum <= value <= maximum:
        refuse(field, f"between {minimum} and {maximum}")
    return value


def ids(field: str, source: MultiDict[str, str], maximum: int = 10_000) -> list[int]:
    values = source.getlist(field)
    if len(values) > maximum:
        refuse(field, f"at most {maximum} at once")
    out = []
    for raw in values:
        if not raw.isdigit() or len(raw) > 19 or int(raw) >= 2**63:
            refuse(field, "whole numbers only")
        out.append(int(raw))
    return out


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.extensions["stockmirror"].settings.timezone)


def day(field: str, *, end: bool = False) -> datetime | None:
    """A calendar date in the merchant's zone: its start (or the next day's start, for
    an inclusive `to` date) as an aware datetime."""
    raw = request.args.get(field, "").strip()
    if not raw:
        return None
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        refuse(field, "a date such as 2026-11-20")
    start = datetime.combine(parsed, time(0), tzinfo=zone())
    return start + timedelta(days=1) if end else start


def local_time(field: str, source: MultiDict[str, str]) -> datetime | None:
    """A `datetime-local` input, read in the merchant's zone."""
    raw = source.get(field, "").strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        refuse(field, "a date and time such as 2026-11-20T14:00")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone())
    return parsed
