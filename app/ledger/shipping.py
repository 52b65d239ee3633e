"""Which ledger movements a shipment (or a voided label) writes.

This is the seam between the order mirror and the ledger's stock rules: the mirror
decides *how many* units of each SKU left or came back (deltas); this module decides
*from where* (location, batch) and *what* (bundle components), and builds the movements.

- Exploding bundles become their components (units × per-bundle quantity); each
  component movement carries the bundle's SKU, so the order still counts whole bundles.
- Where the units leave from and come back to is decided over the loaded facts by
  `app/ledger/decisions.py decide_shipment` (orderings: app/ledger/strategies.py).
- Units coming back (voided label) keep their serial only if it is not on hand again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.decisions import (
    Origin,
    ShipmentDecision,
    ShipmentFacts,
    decide_shipment,
    merge,
    outgoing_by_sku,
    serials_not_twice,
)
from app.ledger.domain import NewMovement, shipment_movement
from app.ledger.models import DEFAULT_LOCATION
from app.ledger.strategies import Take, by_origin, explode


def shipment_movements(
    session: Session,
    *,
    account_id: str,
    order_id: int,
    order_number: str | None,
    event_id: str,
    deltas: Mapping[str, int],
    actor: str,
    sources: Mapping[str, Sequence[Take]] | None = None,
) -> list[NewMovement]:
    """Movements for `deltas` (SKU → units shipped, negative = reversed), sorted by SKU.
    `sources`: units the order holds reserved per SKU (taken first)."""
    facts = _load(session, account_id, order_id, deltas)
    decision = decide_shipment(facts, sources or {}, DEFAULT_LOCATION)
    signed = _signed_takes(session, facts.exploded, decision)
    return [
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
        for (sku, origin), takes in signed
        for t in takes
    ]


def _load(
    session: Session, account_id: str, order_id: int, deltas: Mapping[str, int]
) -> ShipmentFacts:
    """Products and places (one round trip in the common case), bundle components, and
    where the order's shipments of each returning SKU came from."""
    facts = repo.shipping_facts(session, deltas)
    bundles = [sku for sku in deltas if facts.bundles.get(sku) == "exploding"]
    components = repo.exploding_components(session, bundles) if bundles else {}
    exploded = by_origin(explode(deltas.items(), components))
    unseen = set(outgoing_by_sku(exploded)) - set(facts.places)
    if unseen:  # bundle components
        extra = repo.shipping_facts(session, unseen)
        facts.strategies.update(extra.strategies)
        facts.places.update(extra.places)
    shipped_from = {
        (sku, origin): repo.order_places_shipped(session, account_id, order_id, sku, origin)
        for (sku, origin), delta in exploded.items()
        if delta <= 0
    }
    return ShipmentFacts(exploded, facts.strategies, facts.places, shipped_from)


def _signed_takes(
    session: Session, exploded: Mapping[Origin, int], decision: ShipmentDecision
) -> list[tuple[Origin, list[Take]]]:
    """Per origin in the exploded order: units leaving (positive) or coming back
    (negative, serials checked against what is on hand now), one take per place."""
    out: list[tuple[Origin, list[Take]]] = []
    for key, delta in exploded.items():
        if delta > 0:
            out.append((key, decision.outgoing[key]))
            continue
        back = _serials_not_twice(session, key[0], decision.returning[key])
        out.append((key, [Take(t.location, t.batch, -t.quantity) for t in merge(back)]))
    return out


def _serials_not_twice(session: Session, sku: str, back: list[Take]) -> list[Take]:
    """What is on hand of the serials coming back (`serials_not_twice` decides)."""
    codes = [t.batch for t in back if t.batch]
    if not codes:
        return back
    product = repo.products_by_sku(session, [sku]).get(sku)
    if product is None or product.tracking != "serial":
        return back
    return serials_not_twice(back, repo.serials_on_hand(session, sku, codes))
