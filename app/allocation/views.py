"""Read models the API shows for allocation: per-line allocations, shortages, pick lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.allocation import repository as repo
from app.allocation.service import Outcome, order_shortages
from app.orders.models import Order
from app.orders.views import order_summary
from app.timeutil import isoformat


def decorate_detail(session: Session, order: Order, body: dict[str, Any]) -> dict[str, Any]:
    """Add each line's live allocations (location, batch, quantity), the audit trail of
    allocations and the insufficient-inventory flag to an order's API body."""
    rows = repo.allocations_of(session, order.id)
    pools: dict[str, list[dict[str, Any]]] = {}
    for a in rows:
        if a.remaining > 0:
            pools.setdefault(a.line_sku, []).append(
                {
                    "sku": a.sku,
                    "location": a.location,
                    "batch": a.batch or None,
                    "quantity": a.remaining,
                    "per_unit": a.per_unit,
                    "strategy": a.strategy,
                }
            )
    for line in body.get("lines", []):
        line["allocations"] = _take(pools.get(line["sku"], []), line["quantity_allocated"])
    body["allocations"] = [
        {
            "id": a.id,
            "line_sku": a.line_sku,
            "sku": a.sku,
            "location": a.location,
            "batch": a.batch or None,
            "quantity": a.quantity,
            "remaining": a.remaining,
            "consumed": a.consumed,
            "strategy": a.strategy,
            "plan": a.plan,
            "release_id": a.release_id,
            "actor": a.actor,
            "created_at": isoformat(a.created_at),
            "closed_at": isoformat(a.closed_at),
            "closed_reason": a.closed_reason,
        }
        for a in rows
    ]
    body["insufficient_inventory"] = order_shortages(session, [order]).get(order.id, [])
    return body


def _take(pool: list[dict[str, Any]], line_units: int) -> list[dict[str, Any]]:
    """Hand a line its share of its SKU's live allocations (line units × per_unit)."""
    out: list[dict[str, Any]] = []
    per_sku: dict[str, int] = {}
    for item in pool:
        per_sku.setdefault(item["sku"], line_units * item["per_unit"])
    for item in pool:
        want = per_sku[item["sku"]]
        take = min(want, item["quantity"])
        if take <= 0:
            continue
        per_sku[item["sku"]] -= take
        item["quantity"] -= take
        out.append(
            {
                "sku": item["sku"],
                "location": item["location"],
                "batch": item["batch"],
                "quantity": take,
                "strategy": item["strategy"],
            }
        )
    return out


def summaries_with_shortages(session: Session, orders: Sequence[Order]) -> list[dict[str, Any]]:
    """Order summaries for a page, each with its insufficient-inventory flag (one query)."""
    short = order_shortages(session, orders)
    out = []
    for o in orders:
        body = order_summary(o)
        body["insufficient_inventory"] = short.get(o.id, [])
        out.append(body)
    return out


def picklist(rows: Sequence[repo.PickRow]) -> list[dict[str, Any]]:
    """Pick lines sorted by location (sequence, code), then SKU and batch; same place,
    SKU and batch merge, keeping which orders they are for."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r.location, r.sku, r.batch)
        line = merged.get(key)
        if line is None:
            line = merged[key] = {
                "location": r.location,
                "sequence": r.sequence,
                "sku": r.sku,
                "batch": r.batch or None,
                "serial": r.batch if r.tracking == "serial" and r.batch else None,
                "quantity": 0,
                "orders": [],
            }
        line["quantity"] += r.quantity
        line["orders"].append(
            {
                "order_id": r.order_id,
                "order_number": r.order_number,
                "line_sku": r.line_sku,
                "quantity": r.quantity,
            }
        )
    return list(merged.values())


def release_picklist(session: Session, account_id: str, release_id: int) -> dict[str, Any] | None:
    """A release's pick list (None when the account has no such release)."""
    release = repo.get_release(session, release_id)
    if release is None or release.account_id != account_id:
        return None
    return {
        "release_id": release.id,
        "created_at": isoformat(release.created_at),
        "orders_released": release.released,
        "lines": picklist(repo.pick_rows(session, release_id=release.id)),
    }


def released_body(outcome: Outcome) -> dict[str, Any]:
    """The order just released, from what the release itself wrote (no second read)."""
    assert outcome.summary is not None
    body = dict(outcome.summary)
    pools: dict[str, list[dict[str, Any]]] = {}
    for row in outcome.allocations:
        pools.setdefault(row["line_sku"], []).append(
            {
                "sku": row["sku"],
                "location": row["location"],
                "batch": row["batch"] or None,
                "quantity": row["quantity"],
                "per_unit": row["per_unit"],
                "strategy": row["strategy"],
            }
        )
    lines = []
    for line in outcome.lines:
        item = dict(line)
        item["allocations"] = _take(pools.get(line["sku"], []), line["quantity_allocated"])
        lines.append(item)
    body["lines"] = lines
    body["allocations"] = [
        {
            "line_sku": row["line_sku"],
            "sku": row["sku"],
            "location": row["location"],
            "batch": row["batch"] or None,
            "quantity": row["quantity"],
            "remaining": row["remaining"],
            "consumed": 0,
            "strategy": row["strategy"],
            "plan": row["plan"],
            "actor": row["actor"],
            "created_at": isoformat(row["created_at"]),
        }
        for row in outcome.allocations
    ]
    body["insufficient_inventory"] = outcome.shortages
    return body
