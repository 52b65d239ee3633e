"""What the order mirror asks of the allocation engine while applying an event.

Every function runs inside the event's transaction with the order row locked. With
STOCKMIRROR_ALLOCATION=off nothing is ever allocated, so these are cheap no-ops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from app.ledger.shipping import Source
from app.orders.models import Order


def allocated_units(session: Session, order: Order) -> int:
    """Units currently reserved for the order (drives RELEASED)."""
    return 0


def on_lines_changed(session: Session, order: Order) -> None:
    """Lines or quantities changed: cancel the order's allocations (CONTRACT §2)."""


def on_deleted(session: Session, order: Order) -> None:
    """The order was deleted in Starshipit: free its allocations."""


def shipment_sources(session: Session, order: Order) -> Mapping[str, Sequence[Source]]:
    """Where the order's reserved units sit, per SKU, so shipments consume them."""
    return {}


def on_shipped(session: Session, order: Order, shipped_by_sku: Mapping[str, int]) -> None:
    """Units shipped: consume the allocations covering them."""


def after_content(session: Session, order: Order) -> None:
    """New or changed order content was applied (auto allocation rules run here)."""


def on_balances_changed(session: Session, on_hand: Mapping[tuple[str, str, str], int]) -> None:
    """Balances (sku, location, batch) → new on hand were just changed by movements.

    Where on hand fell below allocated, the affected orders become OVERALLOCATED.
    """
