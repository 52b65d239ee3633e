"""Which ledger movements a shipment (or a voided label) writes.

This is the seam between the order mirror and the ledger's stock rules: the mirror
decides *how many* units of each SKU left or came back (deltas); this module decides
*from where* (location, batch) and *what* (bundle components), and builds the movements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.ledger.domain import NewMovement, shipment_movement
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
    del session, sources  # the default location ships everything for now
    return [
        shipment_movement(
            account_id=account_id,
            order_id=order_id,
            order_number=order_number,
            sku=sku,
            delta=delta,
            event_id=event_id,
            location=DEFAULT_LOCATION,
            actor=actor,
        )
        for sku, delta in sorted(deltas.items())
    ]
