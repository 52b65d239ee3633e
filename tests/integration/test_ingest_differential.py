"""The same random stream of order webhooks (created / changed / shipped / deleted in any
order, with redeliveries, conflicting bodies and events that park) leaves the same
orders, lines, timeline, inbox and movements on PostgreSQL (its one-statement ingest
path through the driver) as on SQLite (the SQLAlchemy path), ids and clock times aside."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.db import table_of
from app.ledger.models import StockMovement
from app.migrate import upgrade
from app.orders.models import Order, OrderLine, TimelineEntry
from app.webhooks.models import EventConflict, InboxEvent
from app.webhooks.service import replay_due
from tests.conftest import make_test_app
from tests.helpers import post_event

pytestmark = pytest.mark.postgres_only

T0 = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
TYPES = ("order_created", "order_changed", "order_shipped", "order_deleted")
CLOCK = {"id", "created_at", "updated_at", "received_at", "applied_at", "next_attempt_at"}


def _item(rng: random.Random, shipped: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"quantity": rng.randint(0, 3), "description": rng.choice("xyz")}
    if rng.random() < 0.8:
        item["sku"] = rng.choice(("SKU-A", "SKU-B", "SKU-C"))
    if shipped and rng.random() < 0.5:  # sometimes more than the quantity: the event parks
        item["quantity_shipped"] = rng.randint(0, item["quantity"] + (rng.random() < 0.1))
    return item


def _event(rng: random.Random, n: int) -> dict[str, Any]:
    event_type = rng.choice(TYPES)
    order_id = rng.randint(1, 4)
    items = [_item(rng, event_type == "order_shipped") for _ in range(rng.randint(0, 3))]
    at = T0 + timedelta(minutes=rng.randint(0, 30), seconds=rng.choice((0, 0, 1)))
    return {
        "event_id": f"ev-{n}",
        "event_type": event_type,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "account_id": "default",
        "order": {
            "order_id": order_id,
            "order_number": f"N-{order_id}",
            "order_date": "2026-11-20T01:00:00Z",
            "status": rng.choice(("Unshipped", "Shipped")),
            "items": items,
        },
    }


def stream(seed: int, length: int = 60) -> list[bytes]:
    """Bodies to post in order: new events, exact redeliveries of earlier bodies, and
    earlier event ids with another body (conflicts)."""
    rng = random.Random(seed)
    bodies: list[bytes] = []
    for n in range(length):
        roll = rng.random()
        if bodies and roll < 0.15:
            bodies.append(rng.choice(bodies))
        elif bodies and roll < 0.2:
            other = json.loads(rng.choice(bodies))
            other["order"]["items"] = [_item(rng, False)]
            bodies.append(json.dumps(other).encode())
        else:
            bodies.append(json.dumps(_event(rng, n)).encode())
    return bodies


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "movement"}  # a movement id
    return value


def _rows(conn: sa.Connection, model: Any, order_by: tuple[str, ...], drop=()) -> list[dict]:
    table = table_of(model)
    rows = conn.execute(sa.select(table).order_by(*(table.c[c] for c in order_by)))
    return [
        {k: _plain(v) for k, v in row._mapping.items() if k not in CLOCK | set(drop)}
        for row in rows
    ]


def snapshot(app: Flask) -> dict[str, Any]:
    engine = app.extensions["stockmirror"].db.engine
    with engine.connect() as conn:
        orders = _rows(conn, Order, ("account_id", "order_id"))
        pk = {r.id: r.order_id for r in conn.execute(sa.select(Order.id, Order.order_id))}
        lines = _rows(conn, OrderLine, ("order_pk", "line_no"))
        for row, raw in zip(
            lines,
            conn.execute(
                sa.select(OrderLine.order_pk).order_by(OrderLine.order_pk, OrderLine.line_no)
            ),
            strict=True,
        ):
            row["order_pk"] = pk[raw.order_pk]
        timeline = _rows(conn, TimelineEntry, ("order_pk", "id"), drop=("at",))
        pks = conn.execute(
            sa.select(TimelineEntry.order_pk).order_by(TimelineEntry.order_pk, TimelineEntry.id)
        ).scalars()
        for row, order_pk in zip(timeline, pks, strict=True):
            row["order_pk"] = pk[order_pk]
        return {
            "orders": orders,
            "order_lines": sorted(lines, key=lambda r: (r["order_pk"], r["line_no"])),
            "timeline": sorted(timeline, key=lambda r: r["order_pk"]),  # stable: id order
            "inbox": _rows(conn, InboxEvent, ("account_id", "event_id")),
            "conflicts": _rows(conn, EventConflict, ("event_id", "body_sha256")),
            "movements": _rows(conn, StockMovement, ("order_id", "event_id", "sku", "id")),
        }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_random_webhook_stream_leaves_the_same_tables_on_postgresql_and_sqlite(
    app: Flask, tmp_path: Path, seed: int
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'differential.db'}"
    upgrade(sqlite_url)
    lite = make_test_app(sqlite_url, tmp_path / "sqlite")
    answers: dict[str, list[int]] = {"postgresql": [], "sqlite": []}
    for name, application in (("postgresql", app), ("sqlite", lite)):
        client = application.test_client()
        for body in stream(seed):
            answers[name].append(post_event(client, body).status_code)
        replay_due(application.extensions["stockmirror"].db)
    assert answers["postgresql"] == answers["sqlite"]
    on_pg, on_sqlite = snapshot(app), snapshot(lite)
    for table in on_pg:
        assert on_pg[table] == on_sqlite[table], table
    assert on_pg["movements"], "the stream moved no stock: nothing was compared"
    lite.extensions["stockmirror"].db.dispose()
