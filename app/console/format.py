"""Jinja filters: how numbers, money, times and counts read to people. Formatting only."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from app.config import Settings
from app.ledger.domain import MovementKind
from app.orders.domain import AllocationStatus, OrderStatus
from app.reconcile.domain import effective_status
from app.timeutil import local_text, parse_time, utcnow

MINUS = "\u2212"  # a real minus sign reads better than a hyphen

# Codes as people say them (the code stays visible where scripts need it).
WORDS = {
    OrderStatus.PENDING: "Pending",
    OrderStatus.RELEASED: "Released",
    OrderStatus.PARTIALLY_SHIPPED: "Partly shipped",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.CANCELLED: "Cancelled",
    AllocationStatus.UNALLOCATED: "Not reserved",
    AllocationStatus.ALLOCATED: "Reserved",
    AllocationStatus.PARTIALLY_ALLOCATED: "Partly reserved",
    AllocationStatus.COULD_NOT_ALLOCATE: "Could not reserve",
    AllocationStatus.OVERALLOCATED: "Over-reserved",
    MovementKind.SHIPMENT: "Shipped",
    MovementKind.SHIPMENT_REVERSAL: "Label voided, back to stock",
    MovementKind.RECEIPT: "Received",
    MovementKind.ADJUSTMENT: "Adjusted",
    MovementKind.STOCKTAKE: "Stocktake",
    MovementKind.RETURN: "Returned",
    MovementKind.RETURN_DAMAGED: "Returned damaged",
    MovementKind.TRANSFER_OUT: "Transferred out",
    MovementKind.TRANSFER_IN: "Transferred in",
    MovementKind.IMPORT: "Imported",
    "created": "Order received from Starshipit",
    "changed": "Order changed in Starshipit",
    "shipped": "Starshipit says shipped",
    "deleted": "Deleted in Starshipit",
    "status": "Status changed",
    "allocation": "Stock reservation",
    "stale": "Older event ignored",
    "running": "Running",
    "done": "Done",
    "failed": "Failed",
    "interrupted": "Interrupted",
    "parked": "Parked",
    "pending": "Waiting to retry",
    "discarded": "Discarded",
    "api": "API",
    "cli": "command line",
    "scheduler": "schedule",
    "console": "console",
}
_EVENT_PREFIX = re.compile(r"^order_(created|changed|shipped|deleted): ")
_CODES = re.compile(r"\b(" + "|".join(k for k in WORDS if k.isupper()) + r")\b")


def words(code: Any) -> str:
    if code is None:
        return "—"
    return WORDS.get(str(code), str(code).replace("_", " ").capitalize())


def plain(text: Any) -> str:
    """Free text with status codes put into words (`PENDING → RELEASED`)."""
    text = _EVENT_PREFIX.sub("", str(text or ""))
    return _CODES.sub(lambda m: WORDS[m.group(1)].lower(), text)


def number(value: Any) -> str:
    if value is None:
        return "—"
    text = f"{int(value):,}"
    return text.replace("-", MINUS)


def signed(value: Any) -> str:
    if value is None:
        return "—"
    return ("+" if int(value) > 0 else "") + number(value)


def money(value: Any) -> str:
    if value is None:
        return "—"
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{amount:,.2f}".replace("-", MINUS)


def plural(count: Any, singular: str, plural_form: str | None = None) -> str:
    """`3 orders`, `1 order`, `2 entries` (give the plural when it is not singular+s)."""
    n = int(count or 0)
    word = singular if n == 1 else (plural_form or singular + "s")
    return f"{number(n)} {word}"


def ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 90:
        return "just now"
    if seconds < 90 * 60:
        return plural(seconds // 60, "minute") + " ago"
    if seconds < 36 * 3600:
        return plural(seconds // 3600, "hour") + " ago"
    return plural(seconds // 86400, "day") + " ago"


def _time(value: datetime | str | None) -> datetime | None:
    """Times reach templates as datetimes, or as RFC 3339 text from API-shaped bodies."""
    if isinstance(value, str):
        return parse_time(value) if value else None
    return value


def run_status(run: Any) -> str:
    """A reconciliation run's status as people should see it: a `running` run whose lease
    ran out (its process was killed) is `interrupted`, as the API says."""
    return effective_status(run.status, run.lease_until, utcnow())


def install(app: Flask, settings: Settings) -> None:
    zone = ZoneInfo(settings.timezone)
    app.jinja_env.filters.update(
        words=words,
        plain=plain,
        number=number,
        signed=signed,
        money=money,
        plural=plural,
        ago=ago,
        run_status=run_status,
        local=lambda value: local_text(_time(value), zone),
        local_seconds=lambda value: local_text(_time(value), zone, seconds=True),
    )
    app.jinja_env.globals["timezone_name"] = settings.timezone
