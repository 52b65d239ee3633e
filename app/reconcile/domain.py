"""Pure reconciliation rules: what Starshipit says shipped, and how a difference with the
mirror and ledger is classified. No Flask, SQLAlchemy, marshmallow or requests here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MISSING_SHIPMENT = "missing_shipment"
UNEXPECTED_SHIPMENT = "unexpected_shipment"
QUANTITY_MISMATCH = "quantity_mismatch"
UNKNOWN_ORDER = "unknown_order"
STATUS_MISMATCH = "status_mismatch"
NEGATIVE_STOCK = "negative_stock"
UNSHIPPED_MISSING = "unshipped_missing"
CATEGORIES = (
    MISSING_SHIPMENT,
    UNEXPECTED_SHIPMENT,
    QUANTITY_MISMATCH,
    UNKNOWN_ORDER,
    STATUS_MISMATCH,
    NEGATIVE_STOCK,
    UNSHIPPED_MISSING,
)
# Rows a repair applies (CONTRACT §4); everything else is for people to resolve.
REPAIRABLE = (MISSING_SHIPMENT, UNKNOWN_ORDER, QUANTITY_MISMATCH)

# Starshipit statuses that say no label exists yet. Anything else (Printed, Shipped,
# Dispatched, Delivered, ...) means the parcel is, or is about to be, on its way.
NOT_SHIPPED_STATUSES = frozenset(
    {"unshipped", "saved", "new", "pending", "onhold", "on hold", "cancelled", "deleted"}
)

SHIPPED = "SHIPPED"
PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
CANCELLED = "CANCELLED"

# A synthesized event (repair, tracking fetch, poll) must sort after what the mirror has.
NEWER_BY = timedelta(milliseconds=1)


@dataclass(frozen=True)
class MirrorOrder:
    """What the mirror and ledger know of one order."""

    order_id: int
    order_number: str | None
    status: str
    demand: Mapping[str, int]  # Σ line quantity per SKU
    shipped: Mapping[str, int]  # ledger: shipments − reversals per SKU
    newest: datetime | None = None  # newest event time applied to the order

    @property
    def consistently_shipped(self) -> bool:
        """Mirror says SHIPPED and the ledger shipped exactly the lines: no detail needed."""
        return (
            self.status == SHIPPED
            and bool(self.demand)
            and {k: v for k, v in self.shipped.items() if v} == dict(self.demand)
        )


@dataclass(frozen=True)
class Drift:
    category: str
    order_id: int | None = None
    order_number: str | None = None
    sku: str | None = None
    expected: str | None = None
    actual: str | None = None
    detail: str = ""
    snapshot: Mapping[str, Any] | None = field(default=None, compare=False)
    snapshot_at: datetime | None = None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def starshipit_targets(order: Mapping[str, Any], *, listed_as_shipped: bool) -> dict[str, int]:
    """Units Starshipit says left, per SKU (the same rule as an order_shipped event)."""
    items = [i for i in order.get("items") or [] if isinstance(i, Mapping) and i.get("sku")]
    status = str(order.get("status") or "").strip().lower()
    if any(i.get("quantity_shipped") is not None for i in items):
        use = "quantity_shipped"
    elif listed_as_shipped or (status and status not in NOT_SHIPPED_STATUSES):
        use = "quantity"
    else:
        return {}
    targets: dict[str, int] = {}
    for item in items:
        sku = str(item["sku"])
        targets[sku] = targets.get(sku, 0) + _int(item.get(use))
    return {sku: qty for sku, qty in sorted(targets.items()) if qty}


def starshipit_demand(order: Mapping[str, Any]) -> dict[str, int]:
    demand: dict[str, int] = {}
    for item in order.get("items") or []:
        if isinstance(item, Mapping) and item.get("sku"):
            sku = str(item["sku"])
            demand[sku] = demand.get(sku, 0) + _int(item.get("quantity"))
    return demand


def synthetic_time(fetched_at: datetime, newest_in_mirror: datetime | None) -> datetime:
    """Starshipit's state as fetched now counts as newer than anything the mirror applied."""
    if newest_in_mirror is not None and newest_in_mirror >= fetched_at:
        return newest_in_mirror + NEWER_BY
    return fetched_at


def _diffs(targets: Mapping[str, int], shipped: Mapping[str, int]) -> list[tuple[str, int, int]]:
    return [
        (sku, targets.get(sku, 0), shipped.get(sku, 0))
        for sku in sorted(set(targets) | set(shipped))
        if targets.get(sku, 0) != shipped.get(sku, 0)
    ]


def classify_shipped(
    mirror: MirrorOrder | None,
    order: Mapping[str, Any],
    *,
    fetched_at: datetime,
) -> list[Drift]:
    """An order Starshipit lists as shipped, compared with the mirror (detail in hand)."""
    order_id = _int(order.get("order_id"))
    number = order.get("order_number")
    targets = starshipit_targets(order, listed_as_shipped=True)
    if mirror is None:
        units = ", ".join(f"{sku} ×{qty}" for sku, qty in targets.items()) or "no units"
        return [
            Drift(
                UNKNOWN_ORDER,
                order_id,
                number,
                expected=str(sum(targets.values())),
                actual="0",
                detail=f"shipped in Starshipit ({units}) but never mirrored",
                snapshot=order,
                snapshot_at=fetched_at,
            )
        ]
    at = synthetic_time(fetched_at, mirror.newest)
    diffs = _diffs(targets, mirror.shipped)
    if not diffs:
        demand = starshipit_demand(order)
        fully = bool(targets) and all(targets.get(s, 0) >= q for s, q in demand.items())
        expected = SHIPPED if fully else PARTIALLY_SHIPPED
        if targets and mirror.status != expected:
            return [
                Drift(
                    STATUS_MISMATCH,
                    order_id,
                    number or mirror.order_number,
                    expected=expected,
                    actual=mirror.status,
                    detail=(
                        f"ledger agrees with Starshipit's shipped units but the mirror says "
                        f"{mirror.status} (Starshipit status {order.get('status')!r})"
                    ),
                )
            ]
        return []
    nothing_shipped = not any(mirror.shipped.values())
    category = MISSING_SHIPMENT if nothing_shipped else QUANTITY_MISMATCH
    rows = []
    for sku, expected_qty, actual_qty in diffs:
        detail = (
            f"Starshipit shipped {expected_qty}, the ledger recorded none"
            if nothing_shipped
            else f"Starshipit shipped {expected_qty}, the ledger recorded {actual_qty}"
        )
        rows.append(
            Drift(
                category,
                order_id,
                number or mirror.order_number,
                sku=sku,
                expected=str(expected_qty),
                actual=str(actual_qty),
                detail=detail,
                snapshot=order,
                snapshot_at=at,
            )
        )
    return rows


def classify_unlisted(
    mirror: MirrorOrder, order: Mapping[str, Any], *, fetched_at: datetime
) -> list[Drift]:
    """An order the ledger shipped in the window that Starshipit's shipped list lacks."""
    targets = starshipit_targets(order, listed_as_shipped=False)
    diffs = _diffs(targets, mirror.shipped)
    if not diffs:
        return []
    number = order.get("order_number") or mirror.order_number
    at = synthetic_time(fetched_at, mirror.newest)
    if not targets:
        return [
            Drift(
                UNEXPECTED_SHIPMENT,
                mirror.order_id,
                number,
                sku=sku,
                expected="0",
                actual=str(actual_qty),
                detail=(
                    f"the ledger shipped {actual_qty} but Starshipit shows no shipment "
                    f"(status {order.get('status')!r})"
                ),
            )
            for sku, _expected, actual_qty in diffs
        ]
    return [
        Drift(
            QUANTITY_MISMATCH,
            mirror.order_id,
            number,
            sku=sku,
            expected=str(expected_qty),
            actual=str(actual_qty),
            detail=f"Starshipit shipped {expected_qty}, the ledger recorded {actual_qty}",
            snapshot=order,
            snapshot_at=at,
        )
        for sku, expected_qty, actual_qty in diffs
    ]


def classify_unshipped(mirror: MirrorOrder | None, order: Mapping[str, Any]) -> list[Drift]:
    """An order in Starshipit's unshipped list, compared with the mirror."""
    order_id = _int(order.get("order_id"))
    number = order.get("order_number")
    status = order.get("status")
    if mirror is None:
        return [
            Drift(
                UNSHIPPED_MISSING,
                order_id,
                number,
                expected=str(status or "Unshipped"),
                actual="absent",
                detail="in Starshipit's unshipped orders but never mirrored",
            )
        ]
    if mirror.status in (SHIPPED, CANCELLED):
        shipped = sum(mirror.shipped.values())
        return [
            Drift(
                STATUS_MISMATCH,
                order_id,
                number or mirror.order_number,
                expected=str(status or "Unshipped"),
                actual=mirror.status,
                detail=(
                    f"Starshipit lists it as unshipped; the mirror says {mirror.status}"
                    + (f" and the ledger shipped {shipped} units" if shipped else "")
                ),
            )
        ]
    return []


def negative_stock_drift(rows: Iterable[tuple[str, int]]) -> list[Drift]:
    return [
        Drift(
            NEGATIVE_STOCK,
            sku=sku,
            expected=">= 0",
            actual=str(on_hand),
            detail=f"{sku} has {on_hand} on hand",
        )
        for sku, on_hand in rows
    ]
