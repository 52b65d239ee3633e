"""apply_order_event: the one path by which Starshipit's order events change the mirror
and the ledger (webhooks, replays, tracking fetches, reconciliation repairs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as ledger_repo
from app.ledger import service as ledger
from app.ledger.shipping import shipment_movements
from app.orders import repository as repo
from app.orders.domain import (
    EventKey,
    Line,
    OrderEvent,
    OrderState,
    check_shipped_lines,
    derive_status,
    lines_changed,
    lines_facts,
    movement_facts,
    nonstock_target,
    plan_event,
    shipment_deltas,
    shipped_targets,
    stale_facts,
)
from app.orders.models import Order
from app.orders.ports import allocation_port
from app.timeutil import isoformat


@dataclass
class Applied:
    outcome: str
    order: Order


@dataclass
class _Writes:
    """What applying one event has written or will write with the order (save_order)."""

    session: Session
    order: Order
    event: OrderEvent
    created: bool
    timeline: list[dict[str, Any]] = field(default_factory=list)
    movements: repo.EventMovements | None = None  # movements save_order writes
    new_lines: OrderEvent | None = None  # lines save_order writes (an order that had none)
    shipped: dict[str, int] | None = None  # the ledger's shipped units, once read

    def current_shipped(self) -> dict[str, int]:
        if self.shipped is None:
            self.shipped = (
                {}
                if self.created
                else ledger_repo.shipped_by_sku(
                    self.session, self.order.account_id, self.order.order_id
                )
            )
        return self.shipped

    def log(self, kind: str, facts: dict[str, Any]) -> None:
        self.timeline.append(_entry(self.event.occurred_at, kind, facts, self.event))


def state_of(order: Order) -> OrderState:
    return OrderState(
        content=EventKey.of(order.content_at, order.content_event_id),
        shipped=EventKey.of(order.shipped_at, order.shipped_event_id),
        deleted=EventKey.of(order.deleted_at, order.deleted_event_id),
    )


def _record_deleted(order: Order, event: OrderEvent) -> None:
    order.deleted_at, order.deleted_event_id = event.occurred_at, event.event_id
    if order.order_number is None and event.order_number:
        order.order_number = event.order_number


def apply_order_event(
    session: Session,
    event: OrderEvent,
    *,
    actor: str = "starshipit",
    locked: tuple[Order, bool] | None = None,
) -> Applied:
    """Apply one validated order event inside the caller's transaction: decide what it
    does from the loaded order (app.orders.domain.plan_event), then write that.

    The order row is locked first (by the caller, who passes `locked` = lock_order's
    answer, or here), so concurrent events for one order apply one after another;
    ledger writes are keyed by event, so a replay cannot count twice.
    """
    allocation = allocation_port(session)
    if event.event_type == "order_shipped":
        check_shipped_lines(event.lines)
    order, created = locked or repo.lock_order(session, event.account_id, event.order_id)
    state = state_of(order)
    plan = plan_event(state, event.event_type, event.key)
    w = _Writes(session, order, event, created)
    if plan.record_deleted:
        _record_deleted(order, event)
    if plan.cancel:
        w.log("deleted", {})
        allocation.on_deleted(session, order)
    if plan.ship:
        _ship(w, actor)
    had_lines = plan.take_content and not created and state.content is not None
    old_lines = _lines(w) if had_lines else []
    if plan.take_content:
        if had_lines or allocation.reads_lines(session, order):
            repo.replace_lines(session, order.id, event, had_lines=had_lines)
        else:  # nothing reads them before the end: written with the order row
            w.new_lines = event
        _apply_header(order, event)
        order.content_at, order.content_event_id = event.occurred_at, event.event_id
    if plan.stale:
        w.timeline.append(_stale_entry(event, plan.stale_against))
    if plan.log_lines:
        w.timeline.append(_lines_entry(event))
    lines = list(event.lines) if plan.take_content else _lines(w)
    if had_lines and lines_changed(old_lines, lines):
        allocation.on_lines_changed(session, order)
    if plan.take_content and not plan.deleted_is_newest:
        allocation.after_content(session, order)
    status = derive_status(
        lines,
        w.current_shipped(),
        deleted_is_newest=plan.deleted_is_newest,
        allocated_units=allocation.allocated_units(session, order),
        nonstock_shipped=order.nonstock_shipped or 0,
    )
    if status != order.status or created:
        if not created:
            w.log("status", {"from": str(order.status), "to": str(status)})
        order.status = status
    repo.save_order(session, order, w.timeline, new_lines=w.new_lines, movements=w.movements)
    return Applied(plan.outcome, order)


def _lines(w: _Writes) -> list[Line]:
    """The order's lines as stored (none for an order this event created)."""
    return [] if w.created else repo.as_domain_lines(repo.lines_of(w.session, w.order.id))


def _ship(w: _Writes, actor: str) -> None:
    """Move the ledger to the event's shipped targets (movements keyed by the event)."""
    session, order, event = w.session, w.order, w.event
    allocation = allocation_port(session)
    target = shipped_targets(event.lines)
    movements = shipment_movements(
        session,
        account_id=order.account_id,
        order_id=order.order_id,
        order_number=event.order_number or order.order_number,
        event_id=event.event_id,
        deltas=shipment_deltas(target, w.current_shipped()),
        actor=actor,
        sources=allocation.shipment_sources(session, order),
    )
    # Consume the allocations before on hand drops, so the shipped units never show
    # as over-allocated in between.
    allocation.on_shipped(session, order, {sku: qty for sku, qty in target.items() if qty})
    if (
        movements
        and not allocation.watches_balances(session)
        and repo.saves_movements(session, order)
    ):  # nothing looks at them before the end: written with the order, one statement
        w.movements = repo.EventMovements(movements, event.occurred_at, event.event_id)
    else:
        for row in ledger.post_movements(session, movements).rows:
            w.log(row.type, movement_facts(row.sku, row.quantity, row.location, row.id))
    w.shipped = {sku: qty for sku, qty in target.items() if qty}
    order.nonstock_shipped = nonstock_target(event.lines)
    order.shipped_at, order.shipped_event_id = event.occurred_at, event.event_id
    for note in event.notes:
        w.log("note", {"text": note})


def _apply_header(order: Order, event: OrderEvent) -> None:
    h = event.header
    if event.order_number:
        order.order_number = event.order_number
    for name in ("reference", "platform", "carrier", "carrier_name"):
        if name in h:
            setattr(order, name, h[name])
    if "order_date" in h:
        order.order_date = h["order_date"]  # type: ignore[assignment]
    if "status" in h:
        order.starshipit_status = h["status"]  # type: ignore[assignment]
    if "destination" in h:
        order.destination = h["destination"]  # type: ignore[assignment]
    if "packages" in h:
        order.packages = h["packages"]  # type: ignore[assignment]


def _entry(at: Any, kind: str, facts: dict[str, Any], event: OrderEvent) -> dict[str, Any]:
    """A timeline entry as facts (app.orders.domain.timeline_text words it when read)."""
    return {"at": at, "kind": kind, "facts": facts, "event_id": event.event_id}


_LINE_KINDS = {"order_created": "created", "order_changed": "changed", "order_shipped": "shipped"}


def _lines_entry(event: OrderEvent) -> dict[str, Any]:
    facts = lines_facts(event.event_type, event.lines)
    return _entry(event.occurred_at, _LINE_KINDS[event.event_type], facts, event)


def _stale_entry(event: OrderEvent, newer: EventKey | None) -> dict[str, Any]:
    facts = stale_facts(
        event.event_type,
        event.event_id,
        newer.event_id if newer is not None else None,
        isoformat(newer.occurred_at) if newer is not None else None,
    )
    return _entry(event.occurred_at, "stale", facts, event)
