"""What the order mirror asks of the allocation engine while applying an event.

Every function runs inside the event's transaction with the order row locked. An order
whose allocation_status says it holds nothing (UNALLOCATED, COULD_NOT_ALLOCATE) costs no
query here, so with STOCKMIRROR_ALLOCATION=off (nothing ever reserved) these are cheap
no-ops; `on_balances_changed` and the auto rules look at the mode (see config.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from app.allocation import repository as repo
from app.allocation import service
from app.allocation.config import config_of
from app.allocation.domain import HOLDS_NOTHING
from app.ledger.shipping import Source
from app.orders.models import Order


def allocated_units(session: Session, order: Order) -> int:
    """Units currently reserved for the order (drives RELEASED)."""
    if order.allocation_status in HOLDS_NOTHING:
        return 0
    return repo.live_units(session, order.id)


def loads_orders(session: Session) -> bool:
    """Whether the hooks below may load orders through the session while an event
    applies (only with allocation on), so the event's order must be the session's."""
    return config_of(session).enabled


def watches_balances(session: Session) -> bool:
    """Whether on_balances_changed acts (allocation on): movements must then be posted
    when they happen, not written at the end of the event."""
    return config_of(session).enabled


def reads_lines(session: Session, order: Order) -> bool:
    """Whether the hooks below may read the order's lines from the database (so new lines
    must be written before they run, not with the order row at the end)."""
    return order.allocation_status not in HOLDS_NOTHING or config_of(session).mode == "auto"


def on_lines_changed(session: Session, order: Order) -> None:
    """Lines or quantities changed: cancel the order's allocations (CONTRACT §2)."""
    if order.allocation_status == "UNALLOCATED":
        return
    if order.allocation_status in HOLDS_NOTHING:
        order.allocation_status = "UNALLOCATED"
        return
    service.free_allocations(session, order, "order lines changed")


def on_deleted(session: Session, order: Order) -> None:
    """The order was deleted in Starshipit: free its allocations."""
    if order.allocation_status in HOLDS_NOTHING:
        return
    service.free_allocations(session, order, "order deleted")


def shipment_sources(session: Session, order: Order) -> Mapping[str, Sequence[Source]]:
    """Where the order's reserved units sit, per SKU, so shipments consume them."""
    return service.live_sources(session, order)


def on_shipped(session: Session, order: Order, shipped_by_sku: Mapping[str, int]) -> None:
    """Units shipped: consume the allocations covering them."""
    service.consume(session, order, shipped_by_sku)


def after_content(session: Session, order: Order) -> None:
    """New or changed order content was applied (auto allocation rules run here)."""
    if order.allocation_status not in HOLDS_NOTHING:
        # replace_lines wrote the lines afresh: show what the order still holds.
        service.refresh_lines(session, order)
        return
    config = config_of(session)
    if config.mode == "auto":
        service.auto_allocate(session, order, config)


def on_balances_changed(session: Session, on_hand: Mapping[tuple[str, str, str], int]) -> None:
    """Balances (sku, location, batch) → new on hand were just changed by movements.

    Where on hand fell below allocated, the affected orders become OVERALLOCATED.
    """
    if not on_hand or not watches_balances(session):
        return
    service.mark_overallocated(session, list(on_hand))
