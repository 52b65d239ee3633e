"""Pure rules of a drift review: the units and money of a drift row, the plain words for
categories and review states. No Flask, SQLAlchemy or marshmallow here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.reconcile.domain import (
    MISSING_SHIPMENT,
    NEGATIVE_STOCK,
    QUANTITY_MISMATCH,
    STATUS_MISMATCH,
    UNEXPECTED_SHIPMENT,
    UNKNOWN_ORDER,
    UNSHIPPED_MISSING,
    starshipit_targets,
)
from app.timeutil import parse_time

CATEGORY_WORDS: dict[str, str] = {
    MISSING_SHIPMENT: "Shipped in Starshipit, missing from the ledger",
    UNEXPECTED_SHIPMENT: "In the ledger, not shipped in Starshipit",
    QUANTITY_MISMATCH: "Shipped quantity differs",
    UNKNOWN_ORDER: "Shipped in Starshipit, order never received",
    STATUS_MISMATCH: "Order status differs",
    NEGATIVE_STOCK: "Stock below zero",
    UNSHIPPED_MISSING: "Unshipped order never received",
}
# Review states of a drift row: the newest note, or `repaired` when a repair came later.
OPEN, ACKNOWLEDGED, RESOLVED, REPAIRED = "open", "acknowledged", "resolved", "repaired"
REVIEW_STATES = (OPEN, ACKNOWLEDGED, RESOLVED, REPAIRED)
NOTE_STATES = (ACKNOWLEDGED, RESOLVED, OPEN)  # what a person can set
STATE_WORDS = {
    OPEN: "Open",
    ACKNOWLEDGED: "Acknowledged",
    RESOLVED: "Resolved",
    REPAIRED: "Repaired",
}
MAX_NOTE = 2000
# Rows whose expected/actual are Starshipit's and the ledger's shipped units.
UNIT_CATEGORIES = (MISSING_SHIPMENT, UNEXPECTED_SHIPMENT, QUANTITY_MISMATCH, UNKNOWN_ORDER)

LineValues = Sequence[tuple[int, Decimal | None]]  # (quantity, unit value) per order line


@dataclass(frozen=True)
class Facts:
    starshipit_qty: int | None = None
    ledger_qty: int | None = None
    difference: int | None = None
    unit_value: Decimal | None = None
    value: Decimal | None = None
    shipped_at: datetime | None = None


def category_words(category: str) -> str:
    return CATEGORY_WORDS.get(category, category.replace("_", " ").capitalize())


def check_note(note: str) -> str:
    text = note.strip()
    if not text:
        raise ValueError("write a note: what was found or done")
    if len(text) > MAX_NOTE:
        raise ValueError(f"a note has at most {MAX_NOTE} characters")
    if any((ord(c) < 32 and c not in "\t\r\n") or ord(c) == 127 for c in text):
        raise ValueError("a note cannot contain control characters")
    return text


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _money(raw: Any) -> Decimal | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def unit_value(lines: LineValues) -> Decimal | None:
    """A SKU's value per unit on an order: the quantity-weighted mean over its lines that
    carry a value (one line: its value)."""
    valued = [(q, v) for q, v in lines if v is not None]
    if not valued:
        return None
    units = sum(max(q, 0) for q, _ in valued)
    if units == 0:
        return valued[0][1]
    return sum((Decimal(max(q, 0)) * v for q, v in valued), Decimal(0)) / units


def snapshot_lines(
    snapshot: Mapping[str, Any] | None,
) -> dict[str, list[tuple[int, Decimal | None]]]:
    """(quantity, value) per SKU from Starshipit's order as the run fetched it."""
    out: dict[str, list[tuple[int, Decimal | None]]] = {}
    for item in (snapshot or {}).get("items") or []:
        if isinstance(item, Mapping) and item.get("sku"):
            qty = item.get("quantity")
            quantity = qty if isinstance(qty, int) and not isinstance(qty, bool) else 0
            out.setdefault(str(item["sku"]), []).append((quantity, _money(item.get("value"))))
    return out


def _shipped_date(snapshot: Mapping[str, Any] | None) -> datetime | None:
    raw = (snapshot or {}).get("shipped_date")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return parse_time(raw)
    except ValueError:
        return None


def drift_facts(
    *,
    category: str,
    sku: str | None,
    expected: str | None,
    actual: str | None,
    snapshot: Mapping[str, Any] | None,
    mirror_lines: Mapping[str, LineValues],
    mirror_shipped_at: datetime | None,
) -> Facts:
    """Units and money of one drift row. Starshipit's item values (as fetched) win over
    the mirrored lines'; difference = Starshipit's units − the ledger's; value =
    difference × unit value (positive: the ledger shows stock that has left)."""
    shipped_at = _shipped_date(snapshot) or mirror_shipped_at
    if category == NEGATIVE_STOCK:
        return Facts(ledger_qty=_int(actual), shipped_at=None)
    if category not in UNIT_CATEGORIES:
        return Facts(shipped_at=shipped_at)
    theirs, ours = _int(expected), _int(actual)
    difference = theirs - ours if theirs is not None and ours is not None else None
    from_starshipit = snapshot_lines(snapshot)
    if sku is None:  # a whole order never mirrored: value every SKU it shipped
        return _order_facts(theirs, ours, difference, snapshot, from_starshipit, shipped_at)
    unit = unit_value(from_starshipit.get(sku, ())) or unit_value(mirror_lines.get(sku, ()))
    value = difference * unit if unit is not None and difference is not None else None
    return Facts(theirs, ours, difference, unit, value, shipped_at)


def _order_facts(
    theirs: int | None,
    ours: int | None,
    difference: int | None,
    snapshot: Mapping[str, Any] | None,
    lines: Mapping[str, LineValues],
    shipped_at: datetime | None,
) -> Facts:
    targets = starshipit_targets(snapshot or {}, listed_as_shipped=True)
    units = {sku: unit_value(lines.get(sku, ())) for sku in targets}
    if not targets or any(u is None for u in units.values()):
        return Facts(theirs, ours, difference, None, None, shipped_at)
    value = sum((Decimal(q) * (units[s] or 0) for s, q in targets.items()), Decimal(0))
    unit = next(iter(units.values())) if len(units) == 1 else None
    return Facts(theirs, ours, difference, unit, value, shipped_at)
