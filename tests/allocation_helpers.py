"""Helpers for the allocation tests: orders, stock at places and batches, balances."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.ledger.domain import NewMovement
from app.ledger.service import post_movements
from tests.helpers import AUTH, post_event

_counter = {"n": 0}


def order_event(
    order_id: int,
    items: list[tuple[str, int]],
    *,
    event_type: str = "order_created",
    order_date: str = "2026-11-20T01:00:00Z",
    occurred_at: str = "2026-11-20T02:00:00Z",
    platform: str | None = None,
    country: str | None = None,
    event_id: str | None = None,
    shipped: list[int] | None = None,
) -> dict[str, Any]:
    _counter["n"] += 1
    lines: list[dict[str, Any]] = []
    for n, (sku, qty) in enumerate(items):
        line: dict[str, Any] = {"sku": sku, "quantity": qty}
        if shipped is not None:
            line["quantity_shipped"] = shipped[n]
        lines.append(line)
    order: dict[str, Any] = {
        "order_id": order_id,
        "order_number": f"N-{order_id}",
        "order_date": order_date,
        "items": lines,
    }
    if platform:
        order["platform"] = platform
    if country:
        order["destination"] = {"name": "A", "country": country}
    return {
        "event_id": event_id or f"evt-{event_type}-{order_id}-{_counter['n']}",
        "event_type": event_type,
        "occurred_at": occurred_at,
        "account_id": "default",
        "order": order,
    }


def create_order(client: FlaskClient, order_id: int, items: list[tuple[str, int]], **kw: Any):
    response = post_event(client, order_event(order_id, items, **kw))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "applied", response.json
    return response


def receive(client: FlaskClient, sku: str, quantity: int, location: str | None = None) -> None:
    _counter["n"] += 1
    body: dict[str, Any] = {
        "sku": sku,
        "quantity": quantity,
        "type": "receipt",
        "reference": f"R-{_counter['n']}",
    }
    if location:
        body["location"] = location
    response = client.post("/api/movements", json=body, headers=AUTH)
    assert response.status_code == 201, response.json


def adjust(client: FlaskClient, sku: str, quantity: int, location: str | None = None) -> None:
    _counter["n"] += 1
    body: dict[str, Any] = {
        "sku": sku,
        "quantity": quantity,
        "type": "adjustment",
        "reference": f"ADJ-{_counter['n']}",
    }
    if location:
        body["location"] = location
    response = client.post("/api/movements", json=body, headers=AUTH)
    assert response.status_code == 201, response.json


def add_location(engine: sa.Engine, code: str, kind: str = "bulk", sequence: int = 0) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO locations (code, kind, warehouse, sequence, created_at) "
                "VALUES (:c, :k, 'MAIN', :s, :t)"
            ),
            {"c": code, "k": kind, "s": sequence, "t": datetime(2026, 1, 1)},
        )


def set_product(engine: sa.Engine, sku: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO products (sku, tracking, bundle, created_at) "
                "VALUES (:s, 'none', 'none', :t) ON CONFLICT (sku) DO NOTHING"
            ),
            {"s": sku, "t": datetime(2026, 1, 1)},
        )
        for name, value in values.items():
            conn.execute(
                sa.text(f"UPDATE products SET {name} = :v WHERE sku = :s"), {"v": value, "s": sku}
            )


def add_components(engine: sa.Engine, bundle: str, parts: list[tuple[str, int]]) -> None:
    set_product(engine, bundle, bundle="exploding")
    for sku, _ in parts:
        set_product(engine, sku)
    with engine.begin() as conn:
        for sku, qty in parts:
            conn.execute(
                sa.text(
                    "INSERT INTO bundle_components (bundle_sku, component_sku, quantity) "
                    "VALUES (:b, :c, :q)"
                ),
                {"b": bundle, "c": sku, "q": qty},
            )


def receive_batch(
    app: Flask,
    sku: str,
    batch: str,
    quantity: int,
    *,
    location: str = "DEFAULT",
    expiry: date | None = None,
    received_at: datetime | None = None,
) -> None:
    """A batch receipt through the ledger's own posting path (the API has no batches)."""
    database = app.extensions["stockmirror"].db
    engine = database.engine
    set_product(engine, sku)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO batches (sku, code, expiry, received_at) VALUES (:s, :c, :e, :r)"),
            {"s": sku, "c": batch, "e": expiry, "r": received_at or datetime(2026, 1, 1)},
        )
    _counter["n"] += 1
    with database.write() as session:
        post_movements(
            session,
            [
                NewMovement(
                    key=f"test-receipt:{_counter['n']}",
                    sku=sku,
                    quantity=quantity,
                    type="receipt",
                    location=location,
                    batch=batch,
                    actor="test",
                    reference=f"RB-{_counter['n']}",
                )
            ],
        )


def balances(engine: sa.Engine, sku: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(location, batch) → (on_hand, allocated)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT location, batch, on_hand, allocated FROM stock_balances WHERE sku = :s"
            ),
            {"s": sku},
        )
        return {(r.location, r.batch): (r.on_hand, r.allocated) for r in rows}


def order(client: FlaskClient, order_id: int) -> dict[str, Any]:
    response = client.get(f"/api/orders/{order_id}", headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


def release(client: FlaskClient, order_id: int, **body: Any):
    return client.post(f"/api/orders/{order_id}/release", json=body, headers=AUTH)


def assert_allocations_consistent(engine: sa.Engine) -> None:
    """stock_balances.allocated == Σ live allocations per balance; never negative."""
    with engine.connect() as conn:
        live = {
            (r.sku, r.location, r.batch): int(r.total)
            for r in conn.execute(
                sa.text(
                    "SELECT sku, location, batch, SUM(remaining) AS total FROM allocations "
                    "WHERE remaining > 0 GROUP BY sku, location, batch"
                )
            )
        }
        allocated = {
            (r.sku, r.location, r.batch): int(r.allocated)
            for r in conn.execute(
                sa.text("SELECT sku, location, batch, allocated FROM stock_balances")
            )
        }
        lines = conn.execute(
            sa.text(
                "SELECT o.order_id, o.allocation_status, "
                "COALESCE((SELECT SUM(a.remaining) FROM allocations a "
                "WHERE a.order_pk = o.id), 0) AS live FROM orders o"
            )
        ).all()
    wrong = {
        k: (live.get(k, 0), allocated.get(k, 0))
        for k in set(live) | set(allocated)
        if live.get(k, 0) != allocated.get(k, 0)
    }
    assert not wrong, f"allocated differs from Σ live allocations (live, allocated): {wrong}"
    assert all(v >= 0 for v in allocated.values())
    for order_id, status, units in lines:
        if status in ("UNALLOCATED", "COULD_NOT_ALLOCATE"):
            assert units == 0, f"order {order_id} is {status} but holds {units} units"
