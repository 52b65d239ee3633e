"""Where stock is taken from, for shipments (ledger) and allocation alike: the one home of
the picking-strategy names and default, the stock place and take types, the orderings per
strategy, the non-sellable rule and the bundle explosion. Plain Python (allocation may
import the ledger, not the other way round).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class Strategy(StrEnum):
    FIFO = "fifo"  # oldest batch received first
    FEFO = "fefo"  # earliest expiry first (no expiry last)
    PICK_FACE_FIRST = "pick_face_first"  # pick faces before bulk


FIFO = Strategy.FIFO.value
FEFO = Strategy.FEFO.value
PICK_FACE_FIRST = Strategy.PICK_FACE_FIRST.value
STRATEGIES: tuple[str, ...] = tuple(s.value for s in Strategy)
DEFAULT_STRATEGY: str = Strategy.FIFO.value  # a product without a strategy, and settings


class LocationKind(StrEnum):
    """What a location is for (locations.kind holds one of them)."""

    PICK_FACE = "pick_face"
    BULK = "bulk"
    NON_SELLABLE = "non_sellable"


PICK_FACE, BULK, NON_SELLABLE = LocationKind.PICK_FACE, LocationKind.BULK, LocationKind.NON_SELLABLE
LOCATION_KINDS: tuple[str, ...] = tuple(k.value for k in LocationKind)


@dataclass(frozen=True)
class Place:
    """Stock of one SKU at one (location, batch): its availability (on_hand − allocated)
    and what the strategies sort on."""

    location: str
    batch: str
    available: int
    kind: str = BULK
    sequence: int = 0
    received_at: datetime | None = None
    expiry: date | None = None


@dataclass(frozen=True)
class Take:
    """Units taken from (or given back to) one (location, batch)."""

    location: str
    batch: str
    quantity: int


def sellable(kind: str) -> bool:
    """Stock in a non-sellable location is never picked, shipped or allocated. Allocation's
    balance lock filters the same rule in SQL (`kind != NON_SELLABLE`) for speed."""
    return kind != NON_SELLABLE


# --- orderings -------------------------------------------------------------------------

_FAR_DATE = date.max
_FAR_TIME = datetime.max


def _received(p: Place) -> datetime:
    return p.received_at.replace(tzinfo=None) if p.received_at else _FAR_TIME


def _place_order(p: Place) -> tuple[Any, ...]:
    """Within a tie: pick faces first, then location sequence and code, so picks are stable."""
    return (p.kind != PICK_FACE, p.sequence, p.location, p.batch)


def _fifo_key(p: Place) -> tuple[Any, ...]:
    return (_received(p), *_place_order(p))


def _fefo_key(p: Place) -> tuple[Any, ...]:
    return (p.expiry or _FAR_DATE, *_fifo_key(p))


def _pick_face_key(p: Place) -> tuple[Any, ...]:
    return (p.kind != PICK_FACE, _received(p), *_place_order(p))


ORDERINGS: dict[str, Callable[[Place], tuple[Any, ...]]] = {
    FIFO: _fifo_key,  # oldest batch received first (never received last)
    FEFO: _fefo_key,  # earliest expiry first (no expiry last), then FIFO
    PICK_FACE_FIRST: _pick_face_key,  # pick faces (by sequence) before bulk, then FIFO
}


def order_places(places: Iterable[Place], strategy: str | None) -> list[Place]:
    """Sellable places holding stock, in the strategy's order (None: DEFAULT_STRATEGY;
    a name the ledger does not know sorts as the default)."""
    key = ORDERINGS.get(strategy or DEFAULT_STRATEGY, ORDERINGS[DEFAULT_STRATEGY])
    return sorted((p for p in places if sellable(p.kind) and p.available > 0), key=key)


def take(places: Sequence[Place], quantity: int) -> tuple[list[Take], int]:
    """Take `quantity` units from `places` in order; return takes and the shortfall."""
    takes: list[Take] = []
    left = quantity
    for p in places:
        if left <= 0:
            break
        n = min(left, p.available)
        if n > 0:
            takes.append(Take(p.location, p.batch, n))
            left -= n
    return takes, left


def give_back(shipped_from: Sequence[Take], quantity: int) -> tuple[list[Take], int]:
    """Units coming back go where the order's shipments took them (newest place first)."""
    return take([Place(t.location, t.batch, t.quantity) for t in shipped_from], quantity)


# --- bundles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """`quantity` units of stock SKU `sku` for order line SKU `line_sku` (per_unit each);
    `bundle` is the exploding bundle they are for (None for a SKU ordered directly)."""

    line_sku: str
    sku: str
    per_unit: int
    quantity: int
    bundle: str | None = None


def explode(
    lines: Iterable[tuple[str, int]], components: Mapping[str, Sequence[tuple[str, int]]]
) -> list[Demand]:
    """(SKU, units) → stock demand: an exploding bundle becomes its components (units ×
    per-bundle quantity). Summed per (line SKU, stock SKU, per unit), in first-seen order;
    lines of 0 units are left out (units may be negative: units coming back)."""
    summed: dict[tuple[str, str, int], int] = {}
    bundles: set[str] = set()
    for line_sku, units in lines:
        if units == 0:
            continue
        parts = components.get(line_sku)
        if parts:
            bundles.add(line_sku)
        for sku, per_unit in parts or [(line_sku, 1)]:
            key = (line_sku, sku, per_unit)
            summed[key] = summed.get(key, 0) + units * per_unit
    return [
        Demand(ls, s, pu, q, ls if ls in bundles else None) for (ls, s, pu), q in summed.items()
    ]


def by_origin(demand: Iterable[Demand]) -> dict[tuple[str, str | None], int]:
    """Demand → units per (stock SKU, bundle it moves for or None), sorted: the ledger
    keys shipment movements by their origin."""
    out: dict[tuple[str, str | None], int] = {}
    for d in demand:
        key = (d.sku, d.bundle)
        out[key] = out.get(key, 0) + d.quantity
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))
