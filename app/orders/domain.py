"""Pure order-mirror rules (CONTRACT §2). No Flask, SQLAlchemy or marshmallow here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class OrderStatus(StrEnum):
    """An order's status in the mirror (the values are what the database and API hold)."""

    PENDING = "PENDING"
    RELEASED = "RELEASED"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


# Module-level names kept for callers that import them (allocation, console).
PENDING = OrderStatus.PENDING
RELEASED = OrderStatus.RELEASED
PARTIALLY_SHIPPED = OrderStatus.PARTIALLY_SHIPPED
SHIPPED = OrderStatus.SHIPPED
CANCELLED = OrderStatus.CANCELLED
ORDER_STATUSES: tuple[str, ...] = tuple(OrderStatus)


class AllocationStatus(StrEnum):
    """How much of an order's open units stock is reserved for (Ordoro's statuses)."""

    UNALLOCATED = "UNALLOCATED"
    ALLOCATED = "ALLOCATED"
    PARTIALLY_ALLOCATED = "PARTIALLY_ALLOCATED"
    COULD_NOT_ALLOCATE = "COULD_NOT_ALLOCATE"
    OVERALLOCATED = "OVERALLOCATED"


UNALLOCATED = AllocationStatus.UNALLOCATED
ALLOCATED = AllocationStatus.ALLOCATED
PARTIALLY_ALLOCATED = AllocationStatus.PARTIALLY_ALLOCATED
COULD_NOT_ALLOCATE = AllocationStatus.COULD_NOT_ALLOCATE
OVERALLOCATED = AllocationStatus.OVERALLOCATED
ALLOCATION_STATUSES: tuple[str, ...] = tuple(s.value for s in AllocationStatus)

EVENT_TYPES = ("order_created", "order_changed", "order_deleted", "order_shipped")
CONTENT_EVENTS = ("order_created", "order_changed", "order_shipped")


@dataclass(frozen=True, order=True)
class EventKey:
    """Events are ordered by when Starshipit produced them, ties broken by event_id."""

    occurred_at: datetime
    event_id: str

    @classmethod
    def of(cls, occurred_at: datetime | None, event_id: str | None) -> EventKey | None:
        if occurred_at is None or event_id is None:
            return None
        return cls(occurred_at, event_id)


def is_newer(candidate: EventKey, current: EventKey | None) -> bool:
    return current is None or candidate > current


@dataclass(frozen=True)
class Line:
    """An order line. `sku` None is a non-stock line (a custom or non-inventory item
    Starshipit sends without a SKU): it never moves stock, is never allocated, and its
    units count for SHIPPED / PARTIALLY_SHIPPED like stock units (see fully_shipped)."""

    sku: str | None
    quantity: int
    quantity_shipped: int | None = None
    item_id: int | None = None
    description: str | None = None

    @property
    def stock(self) -> bool:
        return self.sku is not None


def _shipped_units(lines: Sequence[Line]) -> list[int]:
    """Each line's shipped units by the event rule: its quantity_shipped when any line of
    the event carries quantity_shipped (a line without it: 0), else its quantity."""
    use_shipped = any(line.quantity_shipped is not None for line in lines)
    return [(line.quantity_shipped or 0) if use_shipped else line.quantity for line in lines]


def shipped_targets(lines: Iterable[Line]) -> dict[str, int]:
    """The event's shipped target per stock SKU.

    Σ quantity_shipped over the SKU's lines when any line of the event carries
    quantity_shipped, else Σ quantity. Non-stock lines have no target (see
    nonstock_target).
    """
    lines = list(lines)
    targets: dict[str, int] = {}
    for line, qty in zip(lines, _shipped_units(lines), strict=True):
        if line.sku is not None:
            targets[line.sku] = targets.get(line.sku, 0) + qty
    return targets


def nonstock_target(lines: Iterable[Line]) -> int:
    """Units of the event's non-stock lines that left (same rule as shipped_targets)."""
    lines = list(lines)
    return sum(
        qty for line, qty in zip(lines, _shipped_units(lines), strict=True) if line.sku is None
    )


def shipment_deltas(target: Mapping[str, int], current: Mapping[str, int]) -> dict[str, int]:
    """Units to ship (+) or to reverse (−) per SKU so the ledger reaches `target`.

    SKUs shipped before but absent from the new target go back to zero.
    Sorted by SKU so balance rows are always locked in the same order.
    """
    deltas: dict[str, int] = {}
    for sku in sorted(set(target) | set(current)):
        diff = target.get(sku, 0) - current.get(sku, 0)
        if diff:
            deltas[sku] = diff
    return deltas


def demand_by_sku(lines: Iterable[Line]) -> dict[str, int]:
    """Stock demand per SKU: non-stock lines and quantity-0 lines create none."""
    demand: dict[str, int] = {}
    for line in lines:
        if line.sku is not None and line.quantity > 0:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    return demand


def nonstock_demand(lines: Iterable[Line]) -> int:
    return sum(line.quantity for line in lines if line.sku is None and line.quantity > 0)


def distribute(lines: Sequence[Line], per_sku: Mapping[str, int], nonstock: int = 0) -> list[int]:
    """Spread a per-SKU quantity over the SKU's lines in line order (first lines first);
    `nonstock` units likewise over the non-stock lines."""
    remaining = dict(per_sku)
    left_nonstock = nonstock
    result = []
    for line in lines:
        if line.sku is None:
            take = max(0, min(line.quantity, left_nonstock))
            left_nonstock -= take
        else:
            take = max(0, min(line.quantity, remaining.get(line.sku, 0)))
            remaining[line.sku] = remaining.get(line.sku, 0) - take
        result.append(take)
    return result


def fully_shipped(
    lines: Sequence[Line], shipped_by_sku: Mapping[str, int], nonstock_shipped: int = 0
) -> bool:
    """Every line's units have left: each stock SKU's shipped units cover its demand and
    the non-stock units shipped cover the non-stock lines. An order with no units at all
    is never fully shipped (it is not shipped either)."""
    demand = demand_by_sku(lines)
    wanted_nonstock = nonstock_demand(lines)
    return (
        bool(demand or wanted_nonstock)
        and all(shipped_by_sku.get(sku, 0) >= qty for sku, qty in demand.items())
        and nonstock_shipped >= wanted_nonstock
    )


def derive_status(
    lines: Sequence[Line],
    shipped_by_sku: Mapping[str, int],
    *,
    deleted_is_newest: bool,
    allocated_units: int,
    nonstock_shipped: int = 0,
) -> OrderStatus:
    """CONTRACT §2: SHIPPED / PARTIALLY_SHIPPED when any unit shipped (stock units in the
    ledger, or units of non-stock lines by the newest shipped event); else CANCELLED when
    the newest event is order_deleted; else RELEASED when stock is allocated; else PENDING."""
    if nonstock_shipped > 0 or any(qty > 0 for qty in shipped_by_sku.values()):
        fully = fully_shipped(lines, shipped_by_sku, nonstock_shipped)
        return OrderStatus.SHIPPED if fully else OrderStatus.PARTIALLY_SHIPPED
    if deleted_is_newest:
        return OrderStatus.CANCELLED
    if allocated_units > 0:
        return OrderStatus.RELEASED
    return OrderStatus.PENDING


def lines_changed(old: Sequence[Line], new: Sequence[Line]) -> bool:
    """True when SKUs or quantities differ (address-only changes keep allocations)."""
    return demand_by_sku(old) != demand_by_sku(new)


@dataclass(frozen=True)
class OrderEvent:
    """A validated order event envelope, independent of how it arrived."""

    event_id: str
    event_type: str
    occurred_at: datetime
    account_id: str
    order_id: int
    order_number: str | None
    lines: tuple[Line, ...]
    header: Mapping[str, object]
    line_details: tuple[Mapping[str, object], ...] = ()
    # What the source of a synthesized event wants the timeline to say about it (e.g. a
    # shipped order from Starshipit's REST API counted as shipped in full).
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> EventKey:
        return EventKey(self.occurred_at, self.event_id)

    @property
    def carries_content(self) -> bool:
        return self.event_type in CONTENT_EVENTS


class ParkEvent(Exception):
    """The event is valid but cannot be applied now; it is kept `parked` with this reason."""


def line_label(line: Line) -> str:
    """How messages and the timeline name a line's item."""
    if line.sku is not None:
        return line.sku
    return f"non-stock {line.description[:40]!r}" if line.description else "non-stock item"


def check_shipped_lines(lines: Sequence[Line]) -> None:
    for number, line in enumerate(lines, start=1):
        if line.quantity_shipped is not None and line.quantity_shipped > line.quantity:
            raise ParkEvent(
                f"line {number} ({line_label(line)}): quantity_shipped "
                f"{line.quantity_shipped} exceeds quantity {line.quantity}"
            )


# Timeline entries are stored as a kind and facts (JSON); timeline_text words them when
# they are read. Entries other modules log as text (allocation, returns) keep their
# detail and facts None.
DELETED_TEXT = "order deleted in Starshipit"
LINE_EVENT_KINDS = {"order_created": "created", "order_changed": "changed"}


def lines_facts(event_type: str, lines: Sequence[Line]) -> dict[str, Any]:
    """Facts of a created/changed/shipped entry: the event type and each line's item
    and quantity."""
    return {
        "event_type": event_type,
        "lines": [{"item": line_label(line), "quantity": line.quantity} for line in lines],
    }


def movement_facts(sku: str, quantity: int, location: str, movement_id: int) -> dict[str, Any]:
    """Facts of a movement's entry (its kind is the movement type)."""
    return {"sku": sku, "quantity": quantity, "location": location, "movement": movement_id}


def stale_facts(
    event_type: str, event_id: str, newer_event_id: str | None, newer_at: str | None
) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "event_id": event_id,
        "newer_event_id": newer_event_id,
        "newer_at": newer_at,
    }


def _lines_text(lines: Sequence[Mapping[str, Any]]) -> str:
    if not lines:
        return "no lines"
    parts = ", ".join(f"{x['item']} ×{x['quantity']}" for x in lines)
    return f"{len(lines)} line{'s' if len(lines) != 1 else ''} ({parts})"


def _stale_text(facts: Mapping[str, Any]) -> str:
    text = f"{facts['event_type']} {facts['event_id']} ignored: older than"
    if facts.get("newer_event_id") is not None:
        return f"{text} {facts['newer_event_id']} ({facts['newer_at']})"
    return f"{text} the current state"


def timeline_text(kind: str, facts: Mapping[str, Any] | None, detail: str | None = None) -> str:
    """How a timeline entry reads (API and console): the one place entries are worded."""
    if facts is None:
        return detail or ""
    if kind == "status":
        return f"{facts['from']} → {facts['to']}"
    if kind == "deleted":
        return DELETED_TEXT
    if kind == "stale":
        return _stale_text(facts)
    if kind == "note":
        return str(facts["text"])
    if "lines" in facts:
        return f"{facts['event_type']}: {_lines_text(facts['lines'])}"
    if "movement" in facts:
        return (
            f"{kind} {facts['sku']} {int(facts['quantity']):+d} at {facts['location']}"
            f" (movement {facts['movement']})"
        )
    return detail or ""


APPLIED, STALE, IGNORED = "applied", "stale", "ignored"


@dataclass(frozen=True)
class OrderState:
    """What deciding an event needs of the order as loaded: the (time, event_id) of the
    newest event that carried lines, that shipped, and that deleted it."""

    content: EventKey | None = None
    shipped: EventKey | None = None
    deleted: EventKey | None = None


@dataclass(frozen=True)
class EventPlan:
    """What applying an order event does, decided from the loaded state alone."""

    outcome: str  # APPLIED, STALE (older than what the order has) or IGNORED
    record_deleted: bool = False  # the event becomes the order's newest deletion
    cancel: bool = False  # the deletion is newer than the content: allocation lets go
    ship: bool = False  # the ledger moves to the event's shipped targets
    take_content: bool = False  # lines and header come from the event
    stale_against: EventKey | None = None  # when stale: the newer event (None: the state)
    after: OrderState = OrderState()  # the keys once the event is applied

    @property
    def stale(self) -> bool:
        return self.outcome == STALE

    @property
    def log_lines(self) -> bool:
        """Whether the timeline logs the event's lines (created / changed / shipped)."""
        return self.take_content or self.ship

    @property
    def deleted_is_newest(self) -> bool:
        deleted = self.after.deleted
        return deleted is not None and is_newer(deleted, self.after.content)


def _plan_deleted(state: OrderState, key: EventKey) -> EventPlan:
    stale = EventPlan(STALE, stale_against=state.content or state.deleted, after=state)
    if not is_newer(key, state.deleted):
        return stale
    after = OrderState(state.content, state.shipped, key)
    if not is_newer(key, state.content):
        return replace(stale, record_deleted=True, after=after)
    already = state.deleted is not None and is_newer(state.deleted, state.content)
    return EventPlan(IGNORED if already else APPLIED, record_deleted=True, cancel=True, after=after)


def plan_event(state: OrderState, event_type: str, key: EventKey) -> EventPlan:
    """CONTRACT §2, per event: a deletion counts when newer than the deletion and the
    content the order has; a shipment when newer than the last shipment (the ledger then
    moves to its targets); its lines, like a created/changed event's, when newer than the
    content and (except for a shipment) than the deletion. Anything else is stale."""
    if event_type == "order_deleted":
        return _plan_deleted(state, key)
    ship = event_type == "order_shipped" and is_newer(key, state.shipped)
    take_content = (
        event_type in CONTENT_EVENTS
        and is_newer(key, state.content)
        and (event_type == "order_shipped" or is_newer(key, state.deleted))
    )
    after = OrderState(
        key if take_content else state.content, key if ship else state.shipped, state.deleted
    )
    if not (ship or take_content):
        return EventPlan(STALE, stale_against=state.content or state.deleted, after=state)
    return EventPlan(APPLIED, ship=ship, take_content=take_content, after=after)
