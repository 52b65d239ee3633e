"""Which ledger movements a shipment (or a voided label) writes.

This is the seam between the order mirror and the ledger's stock rules: the mirror
decides *how many* units of each SKU left or came back (deltas); this module decides
*from where* (location, batch) and *what* (bundle components), and builds the movements.

- Exploding bundles become their components (units × per-bundle quantity); each
  component movement carries the bundle's SKU, so the order still counts whole bundles.
- Component demand is summed over the whole order before places are chosen.
- Units the allocation engine reserved for the order (`sources`) are taken first; the
  rest comes from sellable places in the product's strategy order (FIFO by batch
  received date, FEFO by expiry, or pick faces first); a shortfall is still recorded
  (the parcel has left) against the default location, where it shows as negative.
- Units coming back (voided label) return to where this order's shipments took them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import (
    NewMovement,
    Place,
    Take,
    explode,
    give_back,
    order_places,
    shipment_movement,
    take,
)
from app.ledger.models import DEFAULT_LOCATION


@dataclass(frozen=True)
class Source:
    """Units reserved for the order at one place (from its allocations)."""

    location: str
    batch: str
    quantity: int


def shipment_movements(
    session: Session,
    *,
    account_id: str,
    order_id: int,
    order_number: str | None,
    event_id: str,
    deltas: Mapping[str, int],
    actor: str,
    sources: Mapping[str, Sequence[Source]] | None = None,
) -> list[NewMovement]:
    """Movements for `deltas` (SKU → units shipped, negative = reversed), sorted by SKU."""
    sources = sources or {}
    facts = repo.shipping_facts(session, deltas)  # one round trip in the common case
    bundles = [sku for sku in deltas if facts.bundles.get(sku) == "exploding"]
    components = repo.exploding_components(session, bundles) if bundles else {}
    exploded = explode(dict(deltas), components)

    outgoing: dict[str, list[tuple[str | None, int]]] = {}
    for (sku, origin), delta in exploded.items():
        if delta > 0:
            outgoing.setdefault(sku, []).append((origin, delta))
    unseen = set(outgoing) - set(facts.places)
    if unseen:  # bundle components
        extra = repo.shipping_facts(session, unseen)
        facts.strategies.update(extra.strategies)
        facts.places.update(extra.places)
    strategies, places = facts.strategies, facts.places

    picks: dict[tuple[str, str | None], list[Take]] = {}
    for sku, parts in outgoing.items():
        total = sum(qty for _, qty in parts)  # demand summed across the whole order
        reserved = [
            Take(s.location, s.batch, s.quantity) for s in sources.get(sku, ()) if s.quantity > 0
        ]
        takes, left = take([_as_place(t) for t in reserved], total)
        if left:
            ordered = order_places(places.get(sku, []), strategies.get(sku))
            more, left = take(_without(ordered, takes), left)
            takes += more
        if left:
            takes.append(Take(DEFAULT_LOCATION, "", left))
        for origin, qty in parts:  # hand the picked places out to each origin in turn
            mine, _ = take([_as_place(t) for t in takes], qty)
            picks[(sku, origin)] = mine
            takes = _minus(takes, mine)

    movements: list[NewMovement] = []
    for (sku, origin), delta in exploded.items():
        if delta > 0:
            merged = _merge(picks[(sku, origin)])
        else:
            shipped_from = repo.order_places_shipped(session, account_id, order_id, sku, origin)
            back, left = give_back(shipped_from, -delta)
            if left:
                back.append(Take(DEFAULT_LOCATION, "", left))
            back = _serials_not_twice(session, sku, back)
            merged = [Take(t.location, t.batch, -t.quantity) for t in _merge(back)]
        for t in merged:
            movements.append(
                shipment_movement(
                    account_id=account_id,
                    order_id=order_id,
                    order_number=order_number,
                    sku=sku,
                    delta=t.quantity,
                    event_id=event_id,
                    location=t.location,
                    batch=t.batch,
                    bundle_sku=origin,
                    actor=actor,
                )
            )
    return movements


def _serials_not_twice(session: Session, sku: str, back: list[Take]) -> list[Take]:
    """A voided label returns a serial only if it is not on hand again meanwhile (it was
    re-received); otherwise the unit comes back without its serial, never twice."""
    codes = [t.batch for t in back if t.batch]
    if not codes:
        return back
    product = repo.products_by_sku(session, [sku]).get(sku)
    if product is None or product.tracking != "serial":
        return back
    on_hand = repo.serials_on_hand(session, sku, codes)
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


def _merge(takes: Sequence[Take]) -> list[Take]:
    """One take per (location, batch): movement keys name the place."""
    merged: dict[tuple[str, str], int] = {}
    for t in takes:
        merged[(t.location, t.batch)] = merged.get((t.location, t.batch), 0) + t.quantity
    return [Take(loc, batch, qty) for (loc, batch), qty in merged.items() if qty]
