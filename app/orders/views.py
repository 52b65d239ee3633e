"""Read models of orders for the API (queries bounded per page, no N+1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as ledger_repo
from app.orders import repository as repo
from app.orders.domain import Line, distribute, timeline_text
from app.orders.models import Order
from app.timeutil import isoformat


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "account_id": order.account_id,
        "status": order.status,
        "allocation_status": order.allocation_status,
        "order_date": isoformat(order.order_date),
        "starshipit_status": order.starshipit_status,
        "reference": order.reference,
        "platform": order.platform,
        "carrier": order.carrier,
        "carrier_name": order.carrier_name,
        "updated_at": isoformat(order.updated_at),
    }


def order_detail(session: Session, order: Order) -> dict[str, Any]:
    rows = repo.lines_of(session, order.id)
    shipped = ledger_repo.shipped_by_sku(session, order.account_id, order.order_id)
    per_line = distribute(
        [Line(sku=r.sku, quantity=r.quantity) for r in rows], shipped, order.nonstock_shipped
    )
    body = order_summary(order)
    body["destination"] = order.destination
    body["packages"] = order.packages or []
    body["lines"] = [
        {
            "line_no": r.line_no,
            "item_id": r.item_id,
            "sku": r.sku,
            "stock": r.sku is not None,
            "description": r.description,
            "quantity": r.quantity,
            "quantity_shipped": shipped_qty,
            "quantity_allocated": r.quantity_allocated,
        }
        for r, shipped_qty in zip(rows, per_line, strict=True)
    ]
    body["shipped"] = dict(sorted(shipped.items()))
    body["timeline"] = [
        {
            "at": isoformat(t.at),
            "kind": t.kind,
            "detail": timeline_text(t.kind, t.facts, t.detail),
            "event_id": t.event_id,
        }
        for t in repo.timeline_of(session, order.id)
    ]
    return body


def order_summaries(orders: Sequence[Order]) -> list[dict[str, Any]]:
    return [order_summary(o) for o in orders]
