"""Where a shipment's units leave from and where a voided label's come back to, decided
over loaded facts (plain Python: no database). `app/ledger/shipping.py` loads the facts,
asks `decide_shipment` and turns its takes into movements.

- Component demand is summed over the whole order before places are chosen.
- Units reserved for the order (`reserved`, from its allocations) are taken first; the
  rest comes from sellable places in the product's strategy order (`order_places`); a
  shortfall is still taken (the parcel has left) from the default location.
- Units coming back return to where this order's shipments took them (`give_back`),
  any rest to the default location.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.ledger.strategies import Place, Take, give_back, order_places, take

Origin = tuple[str, str | None]  # (stock SKU, exploding bundle it moves for or None)


@dataclass(frozen=True)
class ShipmentFacts:
    """What the decision reads: units per origin (exploded, negative = coming back), the
    products' strategies, every place of the outgoing SKUs, and where the order's earlier
    shipments of each returning origin came from (newest first)."""

    exploded: Mapping[Origin, int]
    strategies: Mapping[str, str | None]
    places: Mapping[str, Sequence[Place]]
    shipped_from: Mapping[Origin, Sequence[Take]]


@dataclass(frozen=True)
class ShipmentDecision:
    """Takes per origin, in units (positive both ways): `outgoing` merged to one take per
    place, `returning` as given back (its serials are checked before merging)."""

    outgoing: dict[Origin, list[Take]]
    returning: dict[Origin, list[Take]]


def outgoing_by_sku(exploded: Mapping[Origin, int]) -> dict[str, list[tuple[str | None, int]]]:
    """Units leaving per stock SKU, per origin (in the exploded order)."""
    outgoing: dict[str, list[tuple[str | None, int]]] = {}
    for (sku, origin), delta in exploded.items():
        if delta > 0:
            outgoing.setdefault(sku, []).append((origin, delta))
    return outgoing


def decide_shipment(
    facts: ShipmentFacts, reserved: Mapping[str, Sequence[Take]], default_location: str
) -> ShipmentDecision:
    picks: dict[Origin, list[Take]] = {}
    for sku, parts in outgoing_by_sku(facts.exploded).items():
        places = (facts.places.get(sku, []), facts.strategies.get(sku))
        picks.update(pick_outgoing(sku, parts, reserved.get(sku, ()), places, default_location))
    outgoing: dict[Origin, list[Take]] = {}
    returning: dict[Origin, list[Take]] = {}
    for key, delta in facts.exploded.items():
        if delta > 0:
            outgoing[key] = merge(picks[key])
        else:
            back, left = give_back(facts.shipped_from.get(key, ()), -delta)
            if left:
                back.append(Take(default_location, "", left))
            returning[key] = back
    return ShipmentDecision(outgoing, returning)


def pick_outgoing(
    sku: str,
    parts: Sequence[tuple[str | None, int]],
    reserved: Sequence[Take],
    places: tuple[Sequence[Place], str | None],
    default_location: str,
) -> dict[Origin, list[Take]]:
    """The SKU's units for all its origins at once: reserved places first, then its
    `places` in its strategy's order, then the default location; handed out to each
    origin in turn."""
    total = sum(qty for _, qty in parts)
    mine = [t for t in reserved if t.quantity > 0]
    takes, left = take([_as_place(t) for t in mine], total)
    if left:  # sorted only when the reservation does not cover the units
        more, left = take(_without(order_places(*places), takes), left)
        takes += more
    if left:
        takes.append(Take(default_location, "", left))
    picks: dict[Origin, list[Take]] = {}
    for origin, qty in parts:
        share, _ = take([_as_place(t) for t in takes], qty)
        picks[(sku, origin)] = share
        takes = _minus(takes, share)
    return picks


def serials_not_twice(back: Sequence[Take], on_hand: Mapping[str, int]) -> list[Take]:
    """A voided label returns a serial only if it is not on hand again meanwhile (it was
    re-received); otherwise the unit comes back without its serial, never twice."""
    return [
        Take(t.location, "", t.quantity) if t.batch and on_hand.get(t.batch, 0) > 0 else t
        for t in back
    ]


def _as_place(t: Take) -> Place:
    return Place(t.location, t.batch, t.quantity)


def _without(places: Sequence[Place], used: Sequence[Take]) -> list[Place]:
    """Places minus units already taken there (from the order's own reservation)."""
    taken: dict[tuple[str, str], int] = {}
    for t in used:
        taken[(t.location, t.batch)] = taken.get((t.location, t.batch), 0) + t.quantity
    out = []
    for p in places:
        left = p.available - taken.get((p.location, p.batch), 0)
        if left > 0:
            out.append(
                Place(p.location, p.batch, left, p.kind, p.sequence, p.received_at, p.expiry)
            )
    return out


def _minus(takes: Sequence[Take], used: Sequence[Take]) -> list[Take]:
    out = list(takes)
    for u in used:
        left = u.quantity
        for i, t in enumerate(out):
            if left and t.location == u.location and t.batch == u.batch and t.quantity:
                n = min(left, t.quantity)
                out[i] = Take(t.location, t.batch, t.quantity - n)
                left -= n
    return [t for t in out if t.quantity]


def merge(takes: Sequence[Take]) -> list[Take]:
    """One take per (location, batch): movement keys name the place."""
    merged: dict[tuple[str, str], int] = {}
    for t in takes:
        merged[(t.location, t.batch)] = merged.get((t.location, t.batch), 0) + t.quantity
    return [Take(loc, batch, qty) for (loc, batch), qty in merged.items() if qty]
