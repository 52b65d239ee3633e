"""Shared test helpers: signing, API calls, and the one ledger consistency checker."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.webhooks.signature import sign

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SECRET = "test-webhook-secret"
TOKEN = "test-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def example(name: str) -> Any:
    """A fresh copy of tests/fixtures/NAME.json (invented data in Starshipit's shapes)."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def free_port() -> int:
    """An ephemeral port free right now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed_headers(raw: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Starshipit-Signature": sign(secret, raw)}


def post_event(client: FlaskClient, body: dict[str, Any] | bytes, secret: str = SECRET) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/webhooks/starshipit/orders", data=raw, headers=signed_headers(raw, secret))


def shipped_event(
    event_id: str,
    order_id: int,
    items: list[tuple[str, int, int | None]],
    occurred_at: str = "2026-11-20T05:00:00Z",
    account_id: str = "default",
    event_type: str = "order_shipped",
) -> dict[str, Any]:
    """Build an order event; items are (sku, quantity, quantity_shipped or None)."""
    lines = []
    for sku, quantity, shipped in items:
        line: dict[str, Any] = {"sku": sku, "quantity": quantity}
        if shipped is not None:
            line["quantity_shipped"] = shipped
        lines.append(line)
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "account_id": account_id,
        "order": {
            "order_id": order_id,
            "order_number": f"N-{order_id}",
            "order_date": "2026-11-20T01:00:00Z",
            "items": lines,
        },
    }


def assert_ledger_consistent(engine: sa.Engine) -> None:
    """on_hand == Σ movements for every (SKU, location, batch) and every SKU."""
    with engine.connect() as conn:
        moved = {
            (r.sku, r.location, r.batch): int(r.total)
            for r in conn.execute(
                sa.text(
                    "SELECT sku, location, batch, SUM(quantity) AS total FROM stock_movements "
                    "GROUP BY sku, location, batch"
                )
            )
        }
        balances = {
            (r.sku, r.location, r.batch): int(r.on_hand)
            for r in conn.execute(
                sa.text("SELECT sku, location, batch, on_hand FROM stock_balances")
            )
        }
    wrong = {
        key: (moved.get(key, 0), balances.get(key, 0))
        for key in set(moved) | set(balances)
        if moved.get(key, 0) != balances.get(key, 0)
    }
    assert not wrong, f"balance differs from Σ movements (movements, balance): {wrong}"


def ledger(engine: sa.Engine) -> dict[str, int]:
    """Net quantity per SKU according to the movements."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT sku, SUM(quantity) AS total FROM stock_movements GROUP BY sku")
        )
        return {r.sku: int(r.total) for r in rows}


def json_paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a decoded JSON document, as a path of keys and indexes."""
    out = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            out += json_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            out += json_paths(value, (*prefix, index))
    return out
