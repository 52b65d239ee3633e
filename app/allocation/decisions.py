"""What a release does, decided over the loaded state (plain Python: no database).

`app/allocation/service.py` loads the locked orders, their lines and open units, the live
allocations a re-plan cancels and the locked balances (`ReleaseState`), asks
`decide_release`, and writes what it says (`repo.write_release`): which allocation rows
are added, each balance's change of allocated units, each order's statuses and lines, the
timeline entries and each order's outcome. Orders are planned oldest first against one
`Stock`, so an order sees only what the orders before it left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from app.allocation.domain import allocation_status
from app.allocation.strategies import (
    Demand,
    OrderPlan,
    Place,
    Stock,
    attribute,
    book,
    line_units,
    plan_order,
)
from app.orders.domain import PENDING, RELEASED, derive_status

BalanceKey = tuple[str, str, str]  # (sku, location, batch)


class OrderRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def order_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def allocation_status(self) -> str: ...


class LineRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def line_no(self) -> int: ...
    @property
    def item_id(self) -> int | None: ...
    @property
    def sku(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def quantity_allocated(self) -> int: ...


class LiveRow(Protocol):
    """A live allocation a re-plan cancels."""

    @property
    def order_pk(self) -> int: ...
    @property
    def sku(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def batch(self) -> str: ...
    @property
    def remaining(self) -> int: ...


class BalanceFacts(Protocol):
    """A locked sellable balance with what the strategies sort on."""

    @property
    def sku(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def batch(self) -> str: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def allocated(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def received_at(self) -> datetime | None: ...
    @property
    def expiry(self) -> date | None: ...


@dataclass(frozen=True)
class ReleaseState:
    """The loaded state: candidate orders oldest first, their stock lines, open units per
    line and stock demand, the catalogue, live allocations of orders re-planned, the
    locked sellable balances and the ids of every balance key involved."""

    orders: Sequence[OrderRow]
    lines: Mapping[int, Sequence[LineRow]]
    open_units: Mapping[int, Sequence[tuple[str, int]]]
    demands: Mapping[int, Sequence[Demand]]
    components: Mapping[str, Sequence[tuple[str, int]]]
    strategies: Mapping[str, str | None]
    live: Sequence[LiveRow]
    balances: Sequence[BalanceFacts]
    ids: Mapping[BalanceKey, int]


@dataclass(frozen=True)
class ReleaseTerms:
    allow_partial: bool
    default_strategy: str
    actor: str
    release_id: int | None
    cause: str
    now: datetime


@dataclass(frozen=True)
class OrderDecision:
    """One order's result: its new status and allocation status, whether anything was
    allocated, the shortages, its lines as released and its new allocation rows."""

    order_pk: int
    status: str
    allocation_status: str
    released: bool
    shortages: list[dict[str, Any]]
    partial: bool
    lines: list[dict[str, Any]]
    allocations: list[dict[str, Any]]


@dataclass
class ReleaseDecision:
    """What to write: allocation rows, allocated-unit changes per balance id, order and
    line updates, timeline entries (order pk, kind, detail) in order, and per order its
    decision (in the order of `ReleaseState.orders`)."""

    allocations: list[dict[str, Any]] = field(default_factory=list)
    deltas: dict[int, int] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[tuple[int, str, str]] = field(default_factory=list)
    decided: list[OrderDecision] = field(default_factory=list)


def freed_units(live: Iterable[LiveRow]) -> dict[BalanceKey, int]:
    """Units the live allocations hold per balance (freed when they are re-planned)."""
    freed: dict[BalanceKey, int] = {}
    for a in live:
        key = (a.sku, a.location, a.batch)
        freed[key] = freed.get(key, 0) + a.remaining
    return freed


def stock_of(balances: Iterable[BalanceFacts], freed: Mapping[BalanceKey, int]) -> Stock:
    """What each balance has available for this release (what a re-plan frees included)."""
    stock = Stock()
    for b in balances:
        stock.slots.setdefault(b.sku, []).append(
            Place(
                location=b.location,
                batch=b.batch,
                available=b.on_hand - b.allocated + freed.get((b.sku, b.location, b.batch), 0),
                kind=b.kind,
                sequence=b.sequence,
                received_at=b.received_at,
                expiry=b.expiry,
            )
        )
    return stock


def status_holding(status: str, allocated_units: int) -> str:
    """An order's status once it holds `allocated_units`, by the order rule
    (derive_status). Only an open order that shipped nothing (PENDING, RELEASED) moves:
    shipped and cancelled orders keep theirs, which allocation does not decide."""
    if status not in (PENDING, RELEASED):
        return status
    return derive_status((), {}, deleted_is_newest=False, allocated_units=allocated_units)


def decide_release(state: ReleaseState, terms: ReleaseTerms) -> ReleaseDecision:
    """Cancel the live allocations of re-planned orders, then plan each order in turn."""
    out = ReleaseDecision()
    freed = freed_units(state.live)
    for key, units in freed.items():
        bid = state.ids[key]
        out.deltas[bid] = out.deltas.get(bid, 0) - units
    for pk in sorted({a.order_pk for a in state.live}):
        out.timeline.append((pk, "allocation", f"allocations cancelled for {terms.cause}"))
    stock = stock_of(state.balances, freed)

    def strategy_of(sku: str) -> str:
        return state.strategies.get(sku) or terms.default_strategy

    for order in state.orders:
        plan = plan_order(
            stock, state.demands[order.id], strategy_of, allow_partial=terms.allow_partial
        )
        book(stock, plan)
        out.decided.append(_decide_order(order, plan, state, terms, out))
    return out


def _decide_order(
    order: OrderRow,
    plan: OrderPlan,
    state: ReleaseState,
    terms: ReleaseTerms,
    out: ReleaseDecision,
) -> OrderDecision:
    first_row = len(out.allocations)
    reserved, picked = _reserve(order.id, plan, state.ids, terms, out)
    views = _lines_released(order.id, state, reserved, out)
    demanded = sum(d.quantity for d in state.demands[order.id])
    status = allocation_status(demanded, plan.allocated, tried=True)
    out.timeline.append((order.id, "allocation", _detail(terms.cause, plan, picked)))
    new_status = status_holding(order.status, plan.allocated)
    if new_status != order.status:
        out.timeline.append((order.id, "status", f"{order.status} → {new_status}"))
    out.orders.append(
        {"id": order.id, "status": new_status, "allocation_status": status, "at": terms.now}
    )
    shortages = [s.to_dict() for s in plan.shortages]
    return OrderDecision(
        order_pk=order.id,
        status=new_status,
        allocation_status=status,
        released=bool(plan.allocated),
        shortages=shortages,
        partial=bool(plan.allocated and shortages),
        lines=views,
        allocations=out.allocations[first_row:],
    )


def _reserve(
    order_pk: int,
    plan: OrderPlan,
    ids: Mapping[BalanceKey, int],
    terms: ReleaseTerms,
    out: ReleaseDecision,
) -> tuple[dict[tuple[str, str], int], list[str]]:
    """Allocation rows and balance changes for the plan's picks; returns the units
    reserved per (line SKU, stock SKU) and the picks (replenishments last) in words."""
    reserved: dict[tuple[str, str], int] = {}
    picked: list[str] = []
    for p, share in attribute(plan):
        out.allocations.append(
            {
                "order_pk": order_pk,
                "release_id": terms.release_id,
                "line_sku": share.line_sku,
                "sku": p.sku,
                "per_unit": share.per_unit,
                "location": share.location,
                "batch": share.batch,
                "quantity": share.quantity,
                "remaining": share.quantity,
                "consumed": 0,
                "strategy": p.strategy,
                "plan": p.audit(),
                "actor": terms.actor,
                "created_at": terms.now,
            }
        )
        bid = ids[(p.sku, share.location, share.batch)]
        out.deltas[bid] = out.deltas.get(bid, 0) + share.quantity
        k = (share.line_sku, p.sku)
        reserved[k] = reserved.get(k, 0) + share.quantity
        where = share.location + (f" batch {share.batch}" if share.batch else "")
        picked.append(f"{p.sku} ×{share.quantity} at {where} [{p.strategy}]")
    for p in plan.plans:
        for r in p.replenish:
            picked.append(
                f"replenish {r.sku} ×{r.quantity} from {r.from_location} to "
                f"{r.to_location or 'a pick face'}"
            )
    return reserved, picked


def _lines_released(
    order_pk: int,
    state: ReleaseState,
    reserved: Mapping[tuple[str, str], int],
    out: ReleaseDecision,
) -> list[dict[str, Any]]:
    """Each line's allocated units (updates for those that change) and its view."""
    open_units = state.open_units[order_pk]
    per_line = line_units(open_units, reserved, state.components)
    views = []
    for line, units, (_, still_open) in zip(
        state.lines[order_pk], per_line, open_units, strict=True
    ):
        if line.quantity_allocated != units:
            out.lines.append({"id": line.id, "q": units})
        views.append(
            {
                "line_no": line.line_no,
                "item_id": line.item_id,
                "sku": line.sku,
                "stock": True,  # allocation sees stock lines only
                "description": line.description,
                "quantity": line.quantity,
                "quantity_shipped": line.quantity - still_open,
                "quantity_allocated": units,
            }
        )
    return views


def _detail(cause: str, plan: OrderPlan, picked: Sequence[str]) -> str:
    short_text = ", ".join(
        f"{s.sku} needs {s.needed}, {s.available} available" for s in plan.shortages
    )
    if plan.allocated:
        detail = f"{cause}: allocated " + "; ".join(picked)
        if short_text:
            detail += f" (partial; short: {short_text})"
        return detail
    return f"{cause}: could not allocate: {short_text}"
