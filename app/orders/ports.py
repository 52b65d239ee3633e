"""What the order mirror asks of an allocation engine while it applies an event.

The orders package defines the port; the allocation package implements it; the app's
session factory hands the implementation to every session (`session.info`), so orders
never import allocation. A session nobody wired (a bare `Database`) gets NoAllocation.
Every method runs inside the event's transaction with the order row locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from app.db import wired
from app.ledger.strategies import Take
from app.orders.models import Order

PORT_KEY = "orders.allocation_port"  # session.info key the session factory fills in


class AllocationPort(Protocol):
    def allocated_units(self, session: Session, order: Order) -> int:
        """Units currently reserved for the order (drives RELEASED)."""

    def loads_orders(self, session: Session) -> bool:
        """Whether the methods below may load orders through the session while an event
        applies, so the event's order must be the session's."""

    def watches_balances(self, session: Session) -> bool:
        """Whether balance changes are watched: movements must then be posted when they
        happen, not written at the end of the event."""

    def reads_lines(self, session: Session, order: Order) -> bool:
        """Whether the methods below may read the order's lines from the database (so new
        lines must be written before they run, not with the order row at the end)."""

    def on_lines_changed(self, session: Session, order: Order) -> None:
        """Lines or quantities changed."""

    def on_deleted(self, session: Session, order: Order) -> None:
        """The order was deleted in Starshipit."""

    def shipment_sources(self, session: Session, order: Order) -> Mapping[str, Sequence[Take]]:
        """Where the order's reserved units sit, per SKU, so shipments consume them."""

    def on_shipped(self, session: Session, order: Order, shipped_by_sku: Mapping[str, int]) -> None:
        """Units shipped."""

    def after_content(self, session: Session, order: Order) -> None:
        """New or changed order content was applied."""


class NoAllocation:
    """Nothing is ever reserved: every answer is "nothing", every event a no-op."""

    def allocated_units(self, session: Session, order: Order) -> int:
        return 0

    def loads_orders(self, session: Session) -> bool:
        return False

    def watches_balances(self, session: Session) -> bool:
        return False

    def reads_lines(self, session: Session, order: Order) -> bool:
        return False

    def on_lines_changed(self, session: Session, order: Order) -> None:
        return None

    def on_deleted(self, session: Session, order: Order) -> None:
        return None

    def shipment_sources(self, session: Session, order: Order) -> Mapping[str, Sequence[Take]]:
        return {}

    def on_shipped(self, session: Session, order: Order, shipped_by_sku: Mapping[str, int]) -> None:
        return None

    def after_content(self, session: Session, order: Order) -> None:
        return None


NO_ALLOCATION = NoAllocation()


def allocation_port(session: Session) -> AllocationPort:
    """The allocation engine wired into this session (NoAllocation if none was)."""
    return wired(session, PORT_KEY, NO_ALLOCATION)
