"""Pure allocation rules: plan(stock snapshot, demand) -> allocations. No framework imports.

A *slot* is stock of one SKU at one (location, batch) with its availability
(on_hand − allocated). A strategy orders the slots; `plan` takes from them in that
order. `plan_order` plans a whole order (all-or-nothing unless partial is allowed)
and `Stock.take` books a plan so the next order of a release sees what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from app.ledger.strategies import (  # noqa: F401 - the names allocation code uses
    FEFO,
    FIFO,
    PICK_FACE_FIRST,
    STRATEGIES,
)

PICK_FACE = "pick_face"

_FAR_DATE = date.max
_FAR_TIME = datetime.max


@dataclass(frozen=True)
class Slot:
    sku: str
    location: str
    batch: str
    available: int
    kind: str = "bulk"
    sequence: int = 0
    received_at: datetime | None = None
    expiry: date | None = None


@dataclass(frozen=True)
class Pick:
    location: str
    batch: str
    quantity: int


@dataclass(frozen=True)
class Replenishment:
    """Move `quantity` of `sku` from a bulk location to the pick face (a suggestion)."""

    sku: str
    from_location: str
    to_location: str | None
    quantity: int


@dataclass(frozen=True)
class Plan:
    sku: str
    strategy: str
    demand: int
    picks: tuple[Pick, ...]
    replenish: tuple[Replenishment, ...] = ()
    considered: tuple[str, ...] = ()

    @property
    def allocated(self) -> int:
        return sum(p.quantity for p in self.picks)

    @property
    def short(self) -> int:
        return self.demand - self.allocated

    def audit(self) -> dict[str, Any]:
        """What is stored on the allocation rows so the choice can be audited."""
        return {
            "strategy": self.strategy,
            "demand": self.demand,
            "picks": [[p.location, p.batch, p.quantity] for p in self.picks],
            "considered": list(self.considered),
            "replenish": [
                {"from": r.from_location, "to": r.to_location, "quantity": r.quantity}
                for r in self.replenish
            ],
        }


def _received(slot: Slot) -> datetime:
    return slot.received_at.replace(tzinfo=None) if slot.received_at else _FAR_TIME


def _fifo_key(slot: Slot) -> tuple[Any, ...]:
    return (_received(slot), slot.kind != PICK_FACE, slot.sequence, slot.location, slot.batch)


def _fefo_key(slot: Slot) -> tuple[Any, ...]:
    return (slot.expiry or _FAR_DATE, *_fifo_key(slot))


def _pick_face_key(slot: Slot) -> tuple[Any, ...]:
    return (slot.kind != PICK_FACE, _received(slot), slot.sequence, slot.location, slot.batch)


ORDERINGS: dict[str, Callable[[Slot], tuple[Any, ...]]] = {
    FIFO: _fifo_key,
    FEFO: _fefo_key,
    PICK_FACE_FIRST: _pick_face_key,
}


def plan(snapshot: Iterable[Slot], demand: int, strategy: str, sku: str = "") -> Plan:
    """Take `demand` units from the slots in the strategy's order (short if not enough)."""
    if strategy not in ORDERINGS:
        raise ValueError(f"unknown strategy {strategy!r}")
    ordered = sorted((s for s in snapshot if s.available > 0), key=ORDERINGS[strategy])
    picks: list[Pick] = []
    need = demand
    for slot in ordered:
        if need <= 0:
            break
        take = min(need, slot.available)
        picks.append(Pick(slot.location, slot.batch, take))
        need -= take
    replenish: tuple[Replenishment, ...] = ()
    if strategy == PICK_FACE_FIRST:
        replenish = _replenishments(sku, ordered, picks)
    considered = tuple(f"{s.location}/{s.batch or '-'}:{s.available}" for s in ordered[:10])
    return Plan(sku, strategy, demand, tuple(picks), replenish, considered)


def _replenishments(
    sku: str, ordered: Sequence[Slot], picks: Sequence[Pick]
) -> tuple[Replenishment, ...]:
    kinds = {(s.location, s.batch): s.kind for s in ordered}
    faces = [s.location for s in ordered if s.kind == PICK_FACE]
    to = faces[0] if faces else None
    return tuple(
        Replenishment(sku, p.location, to, p.quantity)
        for p in picks
        if kinds.get((p.location, p.batch)) != PICK_FACE
    )


@dataclass(frozen=True)
class Demand:
    """`quantity` units of stock SKU `sku` for order line SKU `line_sku` (per_unit each)."""

    line_sku: str
    sku: str
    per_unit: int
    quantity: int


def explode(
    lines: Iterable[tuple[str, int]], components: Mapping[str, Sequence[tuple[str, int]]]
) -> list[Demand]:
    """Order lines (sku, units) → stock demand; exploding bundles become their components.

    Quantities are summed per (line SKU, stock SKU) across the whole order.
    """
    summed: dict[tuple[str, str, int], int] = {}
    for line_sku, units in lines:
        if units <= 0:
            continue
        parts = components.get(line_sku) or [(line_sku, 1)]
        for sku, per_unit in parts:
            key = (line_sku, sku, per_unit)
            summed[key] = summed.get(key, 0) + units * per_unit
    return [Demand(ls, s, pu, q) for (ls, s, pu), q in summed.items()]


@dataclass(frozen=True)
class Shortage:
    sku: str
    needed: int
    available: int

    def to_dict(self) -> dict[str, Any]:
        return {"sku": self.sku, "needed": self.needed, "available": self.available}


@dataclass(frozen=True)
class OrderPlan:
    plans: tuple[Plan, ...]
    shortages: tuple[Shortage, ...]
    demand: tuple[Demand, ...]

    @property
    def allocated(self) -> int:
        return sum(p.allocated for p in self.plans)

    @property
    def complete(self) -> bool:
        return not self.shortages


@dataclass
class Stock:
    """Availability per SKU during one release; `take` books a plan."""

    slots: dict[str, list[Slot]] = field(default_factory=dict)

    def available(self, sku: str) -> int:
        return sum(max(s.available, 0) for s in self.slots.get(sku, ()))

    def take(self, plan_: Plan) -> None:
        taken = {(p.location, p.batch): p.quantity for p in plan_.picks}
        self.slots[plan_.sku] = [
            replace(s, available=s.available - taken.get((s.location, s.batch), 0))
            for s in self.slots.get(plan_.sku, ())
        ]


def plan_order(
    stock: Stock,
    demand: Sequence[Demand],
    strategy_of: Callable[[str], str],
    *,
    allow_partial: bool,
) -> OrderPlan:
    """Plan one order against `stock` (not booked: call `book` when it is accepted).

    All-or-nothing: when any SKU is short and partial is not allowed, no picks are made.
    """
    needed: dict[str, int] = {}
    for d in demand:
        needed[d.sku] = needed.get(d.sku, 0) + d.quantity
    plans = []
    shortages = []
    for sku in sorted(needed):
        p = plan(stock.slots.get(sku, ()), needed[sku], strategy_of(sku), sku)
        if p.short:
            shortages.append(Shortage(sku, needed[sku], stock.available(sku)))
        plans.append(p)
    if shortages and not allow_partial:
        plans = [replace(p, picks=(), replenish=()) for p in plans]
    return OrderPlan(tuple(plans), tuple(shortages), tuple(demand))


def book(stock: Stock, order_plan: OrderPlan) -> None:
    for p in order_plan.plans:
        if p.picks:
            stock.take(p)


@dataclass(frozen=True)
class Share:
    """Part of a pick attributed to one order line SKU."""

    line_sku: str
    per_unit: int
    location: str
    batch: str
    quantity: int


def attribute(order_plan: OrderPlan) -> list[tuple[Plan, Share]]:
    """Split each SKU's picks across the demands (line SKUs) that asked for that SKU.

    Partial plans fill the demands in order: components are reserved as far as stock goes.
    """
    by_sku: dict[str, list[Demand]] = {}
    for d in order_plan.demand:
        by_sku.setdefault(d.sku, []).append(d)
    out: list[tuple[Plan, Share]] = []
    for p in order_plan.plans:
        wants = by_sku.get(p.sku, [])
        open_qty = [d.quantity for d in wants]
        for pick in p.picks:
            left = pick.quantity
            for i, d in enumerate(wants):
                take = min(left, open_qty[i])
                if take <= 0:
                    continue
                open_qty[i] -= take
                left -= take
                out.append((p, Share(d.line_sku, d.per_unit, pick.location, pick.batch, take)))
    return out


def line_units(
    lines: Sequence[tuple[str, int]],
    reserved: Mapping[tuple[str, str], int],
    components: Mapping[str, Sequence[tuple[str, int]]],
) -> list[int]:
    """Units allocated per order line (in line units), given stock reserved per
    (line SKU, stock SKU). A bundle line counts whole bundles its components cover."""
    per_line_sku: dict[str, int] = {}
    for line_sku in {sku for sku, _ in lines}:
        parts = components.get(line_sku) or [(line_sku, 1)]
        per_line_sku[line_sku] = min(reserved.get((line_sku, s), 0) // pu for s, pu in parts)
    result = []
    for sku, units in lines:
        take = min(units, per_line_sku.get(sku, 0))
        per_line_sku[sku] = per_line_sku.get(sku, 0) - take
        result.append(max(take, 0))
    return result


def overallocated_orders(excess: int, allocations: Sequence[tuple[int, int]]) -> list[int]:
    """Orders to mark OVERALLOCATED at one balance: newest first, until their live
    allocations there cover the `excess` (allocated − on_hand).

    `allocations` are (order_pk, units) sorted newest order first.
    """
    marked: list[int] = []
    covered = 0
    for order_pk, units in allocations:
        if covered >= excess:
            break
        if order_pk not in marked:
            marked.append(order_pk)
        covered += units
    return marked
