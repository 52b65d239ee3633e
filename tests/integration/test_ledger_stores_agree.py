"""Differential: the PostgreSQL ledger and allocation stores (fixed SQL through the
driver) and the Core stores (SQLAlchemy Core, as on SQLite) leave the same ledger,
allocation and order tables after the same random stream of receipts, adjustments,
orders, releases (single-order, as POST /api/orders/{id}/release, and batch),
deallocations and shipments through the service layer, each on its own fresh PostgreSQL
database."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app import wiring
from app.allocation.config import AllocationConfig
from app.allocation.repository import STORE_KEY as ALLOCATION_STORE_KEY
from app.allocation.repository import AllocationStore, PostgresAllocationStore
from app.allocation.service import deallocate, release_order, release_orders
from app.config import Settings
from app.db import Database
from app.ledger.domain import ADJUSTMENT, RECEIPT
from app.ledger.repository import STORE_KEY, LedgerStore, PostgresLedgerStore
from app.ledger.service import record_manual_movement
from app.migrate import upgrade
from app.orders.service import apply_order_event
from app.webhooks.schemas import load_order_event

PG_URL = os.environ.get("TEST_DATABASE_URL")
SKUS = ("A", "B", "C")
ORDERS = 8
STEPS = 120
CONFIG = AllocationConfig(mode="manual")

# What each table must hold alike: its columns without ids and timestamps.
COMPARED = {
    "products": "sku, tracking, bundle, strategy",
    "stock_movements": "key, sku, quantity, type, location, batch, reference, order_id,"
    " event_id, bundle_sku",
    "stock_balances": "sku, location, batch, on_hand, allocated",
    "allocations": "line_sku, sku, per_unit, location, batch, quantity, remaining, consumed,"
    " strategy, closed_reason",
    "releases": "account_id, actor, allow_partial, requested, released",
    "orders": "order_id, status, allocation_status",
    "order_lines": "line_no, sku, quantity, quantity_allocated",
    "order_timeline": "kind, detail",
}


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    assert PG_URL is not None
    admin_url = make_url(PG_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = [f"sm_diff_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    urls = []
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            urls.append(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        for url in urls:
            upgrade(url)
        yield urls[0], urls[1]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _event(order_id: int, items: list[tuple[str, int]], step: int, **kind: Any) -> Any:
    shipped = kind.get("shipped")
    lines = []
    for n, (sku, qty) in enumerate(items):
        line: dict[str, Any] = {"sku": sku, "quantity": qty}
        if shipped is not None:
            line["quantity_shipped"] = shipped[n]
        lines.append(line)
    return load_order_event(
        {
            "event_id": f"evt-{step}",
            "event_type": kind.get("event_type", "order_created"),
            "occurred_at": f"2026-11-20T{step // 60:02d}:{step % 60:02d}:00Z",
            "account_id": "default",
            "order": {
                "order_id": order_id,
                "order_number": f"N-{order_id}",
                "order_date": f"2026-11-{1 + order_id:02d}T01:00:00Z",
                "items": lines,
            },
        }
    )


def _run_stream(db: Database, seed: int) -> int:
    """Run the stream; the number of single-order releases it made."""
    rng = random.Random(seed)
    orders: dict[int, list[tuple[str, int]]] = {}
    singles = 0
    for step in range(STEPS):
        singles += _step(db, rng, orders, step) == "release_one"
    return singles


def _step(
    db: Database, rng: random.Random, orders: dict[int, list[tuple[str, int]]], step: int
) -> str | None:
    action = rng.choice(
        ("receipt", "adjustment", "order", "release", "release_one", "deallocate", "ship")
    )
    order_id = rng.randint(1, ORDERS)
    if action in ("receipt", "adjustment"):
        quantity = rng.randint(1, 6) if action == "receipt" else rng.randint(-3, 3) or 1
        with db.write() as session:
            record_manual_movement(
                session,
                sku=rng.choice(SKUS),
                quantity=quantity,
                type_=RECEIPT if action == "receipt" else ADJUSTMENT,
                reference=f"ref-{step}",
                location=None,
                reason=None,
                actor="diff",
                negative_policy="allow",
            )
    elif action == "order" and order_id not in orders:
        items = [(sku, rng.randint(1, 3)) for sku in rng.sample(SKUS, rng.randint(1, 2))]
        orders[order_id] = items
        db.run(lambda s: apply_order_event(s, _event(order_id, items, step)))
    elif action == "release" and order_id in orders:
        release_orders(
            db,
            CONFIG,
            account_id="default",
            order_ids=[order_id],
            allow_partial=rng.random() < 0.5,
            actor="diff",
        )
    elif action == "release_one" and order_id in orders:
        release_order(
            db,
            CONFIG,
            account_id="default",
            order_id=order_id,
            allow_partial=rng.random() < 0.5,
            actor="diff",
        )
        return action
    elif action == "deallocate" and order_id in orders:
        deallocate(db, account_id="default", order_id=order_id, actor="diff")
    elif action == "ship" and order_id in orders:
        items = orders[order_id]
        shipped = [rng.randint(0, qty) for _, qty in items]
        event = _event(order_id, items, step, event_type="order_shipped", shipped=shipped)
        db.run(lambda s: apply_order_event(s, event))
    return None


def _contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: sorted(
                    (tuple(r) for r in conn.exec_driver_sql(f"SELECT {cols} FROM {table}")),
                    key=repr,
                )
                for table, cols in COMPARED.items()
            }
    finally:
        engine.dispose()


@pytest.mark.postgres_only
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_postgres_and_core_stores_leave_the_same_tables_after_the_same_stream(
    two_databases: tuple[str, str], seed: int
) -> None:
    fast_url, core_url = two_databases
    settings = Settings.from_env({"DATABASE_URL": fast_url, "STOCKMIRROR_ALLOCATION": "manual"})
    fast = wiring.database(settings)
    core = wiring.database(
        settings.with_overrides(database_url=core_url),
        ledger=LedgerStore(),
        allocation=AllocationStore(),
    )
    assert isinstance(fast.session_info[STORE_KEY], PostgresLedgerStore)
    assert type(core.session_info[STORE_KEY]) is LedgerStore
    assert isinstance(fast.session_info[ALLOCATION_STORE_KEY], PostgresAllocationStore)
    assert type(core.session_info[ALLOCATION_STORE_KEY]) is AllocationStore
    try:
        singles = [_run_stream(db, seed) for db in (fast, core)]
        fast_tables, core_tables = _contents(fast_url), _contents(core_url)
    finally:
        fast.dispose()
        core.dispose()
    assert fast_tables["stock_movements"], "the stream moved stock"
    assert fast_tables["allocations"], "the stream allocated stock"
    assert singles[0] == singles[1] > 0, "and released single orders"
    assert any(row[3] == "shipment" for row in fast_tables["stock_movements"]), "and shipped"
    for table in COMPARED:
        assert fast_tables[table] == core_tables[table], table
