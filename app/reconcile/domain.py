"""Pure reconciliation rules: what Starshipit says shipped, and how a difference with the
mirror and ledger is classified. No Flask, SQLAlchemy, marshmallow or requests here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.orders.domain import (
    Line,
    OrderStatus,
    derive_status,
    line_label,
    nonstock_target,
    shipped_targets,
)


class DriftCategory(StrEnum):
    """What kind of difference a reconciliation found (values as stored and exported)."""

    MISSING_SHIPMENT = "missing_shipment"
    UNEXPECTED_SHIPMENT = "unexpected_shipment"
    QUANTITY_MISMATCH = "quantity_mismatch"
    UNKNOWN_ORDER = "unknown_order"
    STATUS_MISMATCH = "status_mismatch"
    NEGATIVE_STOCK = "negative_stock"
    UNSHIPPED_MISSING = "unshipped_missing"


MISSING_SHIPMENT = DriftCategory.MISSING_SHIPMENT
UNEXPECTED_SHIPMENT = DriftCategory.UNEXPECTED_SHIPMENT
QUANTITY_MISMATCH = DriftCategory.QUANTITY_MISMATCH
UNKNOWN_ORDER = DriftCategory.UNKNOWN_ORDER
STATUS_MISMATCH = DriftCategory.STATUS_MISMATCH
NEGATIVE_STOCK = DriftCategory.NEGATIVE_STOCK
UNSHIPPED_MISSING = DriftCategory.UNSHIPPED_MISSING
CATEGORIES: tuple[str, ...] = tuple(DriftCategory)
# How a drift report can be sorted (review_repository maps each to its column).
DRIFT_SORTS = ("id", "order_number", "sku", "category", "difference", "value", "shipped_at")


@dataclass(frozen=True)
class DriftFilter:
    """Which rows of a drift report to show (empty means any)."""

    categories: tuple[str, ...] = ()
    sku: str | None = None
    order_number: str | None = None
    states: tuple[str, ...] = ()


# Rows a repair applies (CONTRACT §4); everything else is for people to resolve.
REPAIRABLE = (MISSING_SHIPMENT, UNKNOWN_ORDER, QUANTITY_MISMATCH)

# Starshipit statuses that say no label exists yet. Anything else (Printed, Shipped,
# Dispatched, Delivered, ...) means the parcel is, or is about to be, on its way.
NOT_SHIPPED_STATUSES = frozenset(
    {"unshipped", "saved", "new", "pending", "onhold", "on hold", "cancelled", "deleted"}
)

# A synthesized event (repair, tracking fetch, poll) must sort after what the mirror has.
NEWER_BY = timedelta(milliseconds=1)


@dataclass(frozen=True)
class MirrorOrder:
    """What the mirror and ledger know of one order."""

    order_id: int
    order_number: str | None
    status: str
    demand: Mapping[str, int]  # stock demand per SKU (orders.domain.demand_by_sku)
    shipped: Mapping[str, int]  # ledger: shipments − reversals per SKU
    newest: datetime | None = None  # newest event time applied to the order
    nonstock_demand: int = 0  # units on non-stock lines
    nonstock_shipped: int = 0  # of which the newest shipped event says left

    @property
    def consistently_shipped(self) -> bool:
        """Mirror says SHIPPED and the ledger shipped exactly the stock lines (quantity-0
        and non-stock lines create no demand): no detail needed."""
        shipped = {k: v for k, v in self.shipped.items() if v}
        return self.status == OrderStatus.SHIPPED and shipped == dict(self.demand)

    @property
    def nonstock_done(self) -> bool:
        return self.nonstock_shipped >= self.nonstock_demand


@dataclass(frozen=True)
class Drift:
    category: DriftCategory
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


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value)


def starshipit_lines(order: Mapping[str, Any]) -> list[Line]:
    """Starshipit's items as order lines; an item without a SKU is a non-stock line."""
    lines = []
    for item in order.get("items") or []:
        if not isinstance(item, Mapping):
            continue
        sku = item.get("sku")
        description = item.get("description")
        lines.append(
            Line(
                sku=str(sku) if sku not in (None, "") else None,
                quantity=_int(item.get("quantity")),
                quantity_shipped=_int_or_none(item.get("quantity_shipped")),
                description=description if isinstance(description, str) else None,
            )
        )
    return lines


def reported_shipped(order: Mapping[str, Any], *, listed_as_shipped: bool) -> bool:
    """Starshipit says the order left: listed as shipped, or a status meaning a label."""
    status = str(order.get("status") or "").strip().lower()
    return listed_as_shipped or bool(status and status not in NOT_SHIPPED_STATUSES)


def counts_as_fully_shipped(order: Mapping[str, Any], *, listed_as_shipped: bool) -> bool:
    """CONTRACT §3: an order the REST API reports as shipped whose lines carry no positive
    quantity_shipped counts as fully shipped (every line's quantity). Starshipit sends
    `quantity_shipped: 0` on every line of orders it has not shipped and does not reliably
    fill it in for shipped ones."""
    return reported_shipped(order, listed_as_shipped=listed_as_shipped) and not any(
        (line.quantity_shipped or 0) > 0 for line in starshipit_lines(order)
    )


def shipped_lines(order: Mapping[str, Any], *, listed_as_shipped: bool) -> list[Line]:
    """Starshipit's lines carrying the units that left, read by the event rule
    (orders.domain.shipped_targets): all of them for an order counted as fully shipped,
    quantity_shipped where a line says so, none for an order not reported shipped."""
    lines = starshipit_lines(order)
    if counts_as_fully_shipped(order, listed_as_shipped=listed_as_shipped):
        return [replace(line, quantity_shipped=None) for line in lines]
    if any((line.quantity_shipped or 0) > 0 for line in lines):
        return lines
    return [replace(line, quantity_shipped=0) for line in lines]


def starshipit_targets(order: Mapping[str, Any], *, listed_as_shipped: bool) -> dict[str, int]:
    """Units Starshipit says left, per stock SKU (the same rule as an order_shipped event)."""
    targets = shipped_targets(shipped_lines(order, listed_as_shipped=listed_as_shipped))
    return {sku: qty for sku, qty in sorted(targets.items()) if qty}


def _units_text(order: Mapping[str, Any], targets: Mapping[str, int]) -> str:
    parts = [f"{sku} ×{qty}" for sku, qty in targets.items()]
    nonstock = nonstock_target(shipped_lines(order, listed_as_shipped=True))
    if nonstock:
        names = sorted({line_label(x) for x in starshipit_lines(order) if not x.stock})
        parts.append(f"{', '.join(names)} ×{nonstock} (no stock moved)")
    return ", ".join(parts) or "no units"


def expected_status(mirror: MirrorOrder, order: Mapping[str, Any]) -> OrderStatus:
    """The status the mirror should show for Starshipit's shipped order, by the mirror's
    own rule (orders.domain.derive_status) over Starshipit's stock lines and shipped
    units. Non-stock lines never count as drift: they are taken as the mirror has them
    (its non-stock demand and what its newest shipped event says left)."""
    lines = shipped_lines(order, listed_as_shipped=True)
    stock_lines = [x for x in lines if x.stock]
    if mirror.nonstock_demand > 0:
        stock_lines.append(Line(sku=None, quantity=mirror.nonstock_demand))
    return derive_status(
        stock_lines,
        shipped_targets(lines),
        deleted_is_newest=False,
        allocated_units=0,
        nonstock_shipped=mirror.nonstock_shipped,
    )


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
        units = _units_text(order, targets)
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
        return _status_drift(mirror, order, targets)
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


def _status_drift(
    mirror: MirrorOrder, order: Mapping[str, Any], targets: Mapping[str, int]
) -> list[Drift]:
    """The ledger agrees with Starshipit's shipped units: drift only if the status does not."""
    expected = expected_status(mirror, order)
    if not targets or mirror.status == expected:
        return []
    return [
        Drift(
            STATUS_MISMATCH,
            _int(order.get("order_id")),
            order.get("order_number") or mirror.order_number,
            expected=expected,
            actual=mirror.status,
            detail=(
                f"ledger agrees with Starshipit's shipped units but the mirror says "
                f"{mirror.status} (Starshipit status {order.get('status')!r})"
            ),
        )
    ]


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
    shipped = sum(mirror.shipped.values())
    if mirror.status == OrderStatus.CANCELLED or (mirror.status == OrderStatus.SHIPPED and shipped):
        # A mirror SHIPPED by non-stock units alone is not drift (no stock moved).
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


def effective_status(status: str, lease_until: datetime | None, now: datetime) -> str:
    """A run's status as people should see it: a `running` run whose lease ran out was
    interrupted (its process died or hung)."""
    if status == "running" and lease_until is not None and lease_until < now:
        return "interrupted"
    return status


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
