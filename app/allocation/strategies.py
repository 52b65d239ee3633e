"""Pure allocation rules: plan(stock snapshot, demand) -> allocations. No framework imports.

Stock places (`Place`), takes (`Take`), the orderings per strategy, the non-sellable rule
and the bundle explosion (`explode` → `Demand`) are the ledger's (app/ledger/strategies.py),
shared with shipments; `plan` takes from the places in the strategy's order. `plan_order`
plans a whole order (all-or-nothing unless partial is allowed) and `Stock.take` books a
plan so the next order of a release sees what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.ledger.strategies import (  # noqa: F401 - the names allocation code uses
    FEFO,
    FIFO,
    ORDERINGS,
    PICK_FACE,
    PICK_FACE_FIRST,
    STRATEGIES,
    Demand,
    Place,
    Take,
    explode,
    order_places,
    take,
)


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
    picks: tuple[Take, ...]
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


def plan(snapshot: Iterable[Place], demand: int, strategy: str, sku: str = "") -> Plan:
    """Take `demand` units from the places in the strategy's order (short if not enough)."""
    if strategy not in ORDERINGS:
        raise ValueError(f"unknown strategy {strategy!r}")
    ordered = order_places(snapshot, strategy)
    picks, _ = take(ordered, demand)
    replenish: tuple[Replenishment, ...] = ()
    if strategy == PICK_FACE_FIRST:
        replenish = _replenishments(sku, ordered, picks)
    considered = tuple(f"{s.location}/{s.batch or '-'}:{s.available}" for s in ordered[:10])
    return Plan(sku, strategy, demand, tuple(picks), replenish, considered)


def _replenishments(
    sku: str, ordered: Sequence[Place], picks: Sequence[Take]
) -> tuple[Replenishment, ...]:
    kinds = {(s.location, s.batch): s.kind for s in ordered}
    faces = [s.location for s in ordered if s.kind == PICK_FACE]
    to = faces[0] if faces else None
    return tuple(
        Replenishment(sku, p.location, to, p.quantity)
        for p in picks
        if kinds.get((p.location, p.batch)) != PICK_FACE
    )


def demand_of(
    lines: Iterable[tuple[str, int]], components: Mapping[str, Sequence[tuple[str, int]]]
) -> list[Demand]:
    """An order's open units (sku, units) → stock demand, summed across the whole order
    (lines with nothing open left out)."""
    return explode([(sku, units) for sku, units in lines if units > 0], components)


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

    slots: dict[str, list[Place]] = field(default_factory=dict)

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
