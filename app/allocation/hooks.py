"""The allocation engine as the order mirror and the ledger see it: AllocationHooks
implements orders' AllocationPort and ledger's BalanceObserver (app/wiring.py wires it).

An order whose allocation_status says it holds nothing (UNALLOCATED, COULD_NOT_ALLOCATE)
costs no query here, so with STOCKMIRROR_ALLOCATION=off (nothing ever reserved) these
are cheap no-ops; `on_balances_changed` and the auto rules look at the mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from app.allocation import repository as repo
from app.allocation import service
from app.allocation.config import AllocationConfig
from app.allocation.domain import HOLDS_NOTHING, UNALLOCATED
from app.ledger.strategies import Take
from app.orders.models import Order
from app.orders.ports import allocation_port


class AllocationHooks:
    def __init__(self, config: AllocationConfig) -> None:
        self.config = config

    def allocated_units(self, session: Session, order: Order) -> int:
        """Units currently reserved for the order (drives RELEASED)."""
        if order.allocation_status in HOLDS_NOTHING:
            return 0
        return repo.live_units(session, order.id)

    def loads_orders(self, session: Session) -> bool:
        """Only with allocation on do the methods below load orders through the session."""
        return self.config.enabled

    def watches_balances(self, session: Session) -> bool:
        """on_balances_changed acts with allocation on."""
        return self.config.enabled

    def reads_lines(self, session: Session, order: Order) -> bool:
        return order.allocation_status not in HOLDS_NOTHING or self.config.mode == "auto"

    def on_lines_changed(self, session: Session, order: Order) -> None:
        """Lines or quantities changed: cancel the order's allocations (CONTRACT §2)."""
        if order.allocation_status == UNALLOCATED:
            return
        if order.allocation_status in HOLDS_NOTHING:
            order.allocation_status = UNALLOCATED
            return
        service.free_allocations(session, order, "order lines changed")

    def on_deleted(self, session: Session, order: Order) -> None:
        """The order was deleted in Starshipit: free its allocations."""
        if order.allocation_status in HOLDS_NOTHING:
            return
        service.free_allocations(session, order, "order deleted")

    def shipment_sources(self, session: Session, order: Order) -> Mapping[str, Sequence[Take]]:
        return service.live_sources(session, order)

    def on_shipped(self, session: Session, order: Order, shipped_by_sku: Mapping[str, int]) -> None:
        """Units shipped: consume the allocations covering them."""
        service.consume(session, order, shipped_by_sku)

    def after_content(self, session: Session, order: Order) -> None:
        """New or changed order content was applied (auto allocation rules run here)."""
        if order.allocation_status not in HOLDS_NOTHING:
            # replace_lines wrote the lines afresh: show what the order still holds.
            service.refresh_lines(session, order)
            return
        if self.config.mode == "auto":
            service.auto_allocate(session, order, self.config)

    def on_balances_changed(
        self, session: Session, on_hand: Mapping[tuple[str, str, str], int]
    ) -> None:
        """Where on hand fell below allocated, the affected orders become OVERALLOCATED."""
        if not on_hand or not self.watches_balances(session):
            return
        service.mark_overallocated(session, list(on_hand))


def loads_orders(session: Session) -> bool:
    """The session's allocation port's answer (kept for callers of the old module)."""
    return allocation_port(session).loads_orders(session)
