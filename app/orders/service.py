"""apply_order_event: the one path by which Starshipit's order events change the mirror
and the ledger (webhooks, replays, tracking fetches, reconciliation repairs)."""

from __future__ import annotations

from dataclasses import dataclass
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
    check_shipped_lines,
    derive_status,
    is_newer,
    line_label,
    lines_changed,
    nonstock_target,
    shipment_deltas,
    shipped_targets,
)
from app.orders.models import Order
from app.orders.ports import allocation_port
from app.timeutil import isoformat

APPLIED, STALE, IGNORED = "applied", "stale", "ignored"


@dataclass
class Applied:
    outcome: str
    order: Order


def _summary(lines: tuple[Line, ...]) -> str:
    if not lines:
        return "no lines"
    parts = ", ".join(f"{line_label(line)} ×{line.quantity}" for line in lines)
    return f"{len(lines)} line{'s' if len(lines) != 1 else ''} ({parts})"


def apply_order_event(
    session: Session,
    event: OrderEvent,
    *,
    actor: str = "starshipit",
    locked: tuple[Order, bool] | None = None,
) -> Applied:
    """Apply one validated order event inside the caller's transaction.

    The order row is locked first (by the caller, who passes `locked` = lock_order's
    answer, or here), so concurrent events for one order apply one after another;
    ledger writes are keyed by event, so a replay cannot count twice.
    """
    allocation = allocation_port(session)
    if event.event_type == "order_shipped":
        check_shipped_lines(event.lines)
    order, created = locked or repo.lock_order(session, event.account_id, event.order_id)
    key = event.key
    content_key = EventKey.of(order.content_at, order.content_event_id)
    deleted_key = EventKey.of(order.deleted_at, order.deleted_event_id)
    shipped_key = EventKey.of(order.shipped_at, order.shipped_event_id)
    at = event.occurred_at
    timeline: list[dict[str, Any]] = []
    deferred: repo.EventMovements | None = None  # movements save_order writes
    outcome = STALE

    shipped: dict[str, int] | None = {} if created else None

    def current_shipped() -> dict[str, int]:
        nonlocal shipped
        if shipped is None:
            shipped = ledger_repo.shipped_by_sku(session, order.account_id, order.order_id)
        return shipped

    if event.event_type == "order_deleted":
        if is_newer(key, deleted_key):
            already_deleted = deleted_key is not None and is_newer(deleted_key, content_key)
            order.deleted_at, order.deleted_event_id = key.occurred_at, key.event_id
            if order.order_number is None and event.order_number:
                order.order_number = event.order_number
            if is_newer(key, content_key):
                outcome = IGNORED if already_deleted else APPLIED
                timeline.append(_entry(at, "deleted", "order deleted in Starshipit", event))
                allocation.on_deleted(session, order)
        if outcome == STALE:
            timeline.append(_stale_entry(event, content_key or deleted_key))

    if event.event_type == "order_shipped" and is_newer(key, shipped_key):
        target = shipped_targets(event.lines)
        deltas = shipment_deltas(target, current_shipped())
        movements = shipment_movements(
            session,
            account_id=order.account_id,
            order_id=order.order_id,
            order_number=event.order_number or order.order_number,
            event_id=event.event_id,
            deltas=deltas,
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
            deferred = repo.EventMovements(movements, at, event.event_id)
        else:
            for row in ledger.post_movements(session, movements).rows:
                timeline.append(_entry(at, row.type, _movement_detail(row), event))
        shipped = {sku: qty for sku, qty in target.items() if qty}
        order.nonstock_shipped = nonstock_target(event.lines)
        order.shipped_at, order.shipped_event_id = key.occurred_at, key.event_id
        timeline.extend(_entry(at, "note", note, event) for note in event.notes)
        outcome = APPLIED

    content_newer = (
        event.carries_content
        and is_newer(key, content_key)
        and (event.event_type == "order_shipped" or is_newer(key, deleted_key))
    )
    lines: list[Line]
    new_lines: OrderEvent | None = None
    if content_newer:
        had_lines = not created and content_key is not None
        old_lines = repo.as_domain_lines(repo.lines_of(session, order.id)) if had_lines else []
        if had_lines or allocation.reads_lines(session, order):
            repo.replace_lines(session, order.id, event, had_lines=had_lines)
        else:  # nothing reads them before the end: written with the order row
            new_lines = event
        _apply_header(order, event)
        order.content_at, order.content_event_id = key.occurred_at, key.event_id
        lines = list(event.lines)
        if event.event_type != "order_shipped":
            kind = "created" if event.event_type == "order_created" else "changed"
            timeline.append(_entry(at, kind, f"{event.event_type}: {_summary(event.lines)}", event))
        else:
            timeline.append(_entry(at, "shipped", f"order_shipped: {_summary(event.lines)}", event))
        outcome = APPLIED
        if had_lines and lines_changed(old_lines, lines):
            allocation.on_lines_changed(session, order)
    else:
        lines = repo.as_domain_lines(repo.lines_of(session, order.id)) if not created else []
        if event.carries_content and outcome == STALE:
            timeline.append(_stale_entry(event, content_key or deleted_key))
        elif event.event_type == "order_shipped":
            timeline.append(_entry(at, "shipped", f"order_shipped: {_summary(event.lines)}", event))

    final_content = EventKey.of(order.content_at, order.content_event_id)
    final_deleted = EventKey.of(order.deleted_at, order.deleted_event_id)
    deleted_is_newest = final_deleted is not None and is_newer(final_deleted, final_content)
    if content_newer and not deleted_is_newest:
        allocation.after_content(session, order)
    status = derive_status(
        lines,
        current_shipped(),
        deleted_is_newest=deleted_is_newest,
        allocated_units=allocation.allocated_units(session, order),
        nonstock_shipped=order.nonstock_shipped or 0,
    )
    if status != order.status or created:
        if not created:
            timeline.append(_entry(at, "status", f"{order.status} → {status}", event))
        order.status = status
    repo.save_order(session, order, timeline, new_lines=new_lines, movements=deferred)
    return Applied(outcome, order)


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


def _movement_detail(row: Any) -> str:
    """How the timeline words a movement (orders' save_order words it so in SQL)."""
    return f"{row.type} {row.sku} {row.quantity:+d} at {row.location} (movement {row.id})"


def _entry(at: Any, kind: str, detail: str, event: OrderEvent) -> dict[str, Any]:
    return {"at": at, "kind": kind, "detail": detail, "event_id": event.event_id}


def _stale_entry(event: OrderEvent, newer: EventKey | None) -> dict[str, Any]:
    detail = f"{event.event_type} {event.event_id} ignored: older than"
    if newer is not None:
        detail += f" {newer.event_id} ({isoformat(newer.occurred_at)})"
    else:
        detail += " the current state"
    return _entry(event.occurred_at, "stale", detail, event)
