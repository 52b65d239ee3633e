"""Raw-SQL reference receiver for Starshipit's `order_shipped` webhook.

The least work a correct receiver does on Flask + PostgreSQL, and so the ceiling that
stockmirror's ingest is measured against (bench/ingest.py runs both side by side):

1. HMAC-SHA256 of the raw body with the shared secret, compared in constant time;
2. one transaction: insert the event id into an inbox (unique: a redelivery is a
   duplicate and changes nothing), one movement per line (minus the shipped quantity:
   `quantity_shipped` when the line has it, else `quantity`), and one balance upsert per
   SKU, in SKU order so concurrent events on shared SKUs cannot deadlock.

No ORM, no validation beyond what these steps need, no order mirror. psycopg with a
connection pool; statements are prepared by psycopg after a few executions and the
per-line inserts go out as one pipelined batch. It creates its own tables in the database
it is given.

    REFERENCE_DSN=postgresql://postgres@127.0.0.1/some_db WEBHOOK_SECRET=... \
        gunicorn -w 2 --chdir bench/raw_reference -b 127.0.0.1:PORT app:app
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import Counter
from typing import Any

import psycopg
from flask import Flask, request
from psycopg_pool import ConnectionPool

SECRET = os.environ["WEBHOOK_SECRET"].encode()
SCHEMA = """
CREATE TABLE IF NOT EXISTS ref_inbox (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ref_movements (
    id bigserial PRIMARY KEY,
    inbox_id bigint NOT NULL,
    order_id bigint NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL
);
CREATE TABLE IF NOT EXISTS ref_balances (
    sku text PRIMARY KEY,
    on_hand bigint NOT NULL
);
"""
STORE_EVENT = (
    "INSERT INTO ref_inbox (event_id, body) VALUES (%s, %s) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING id"
)
ADD_MOVEMENT = (
    "INSERT INTO ref_movements (inbox_id, order_id, sku, quantity) VALUES (%s, %s, %s, %s)"
)
UPSERT_BALANCE = (
    "INSERT INTO ref_balances (sku, on_hand) VALUES (%s, %s) "
    "ON CONFLICT (sku) DO UPDATE SET on_hand = ref_balances.on_hand + EXCLUDED.on_hand"
)

pool = ConnectionPool(os.environ["REFERENCE_DSN"], min_size=1, max_size=2, open=True)
with pool.connection() as setup_conn, setup_conn.transaction():
    setup_conn.execute("SELECT pg_advisory_xact_lock(7421)")  # workers boot at once
    setup_conn.execute(SCHEMA)

app = Flask(__name__)


class BadEvent(ValueError):
    pass


def shipped_lines(event: Any) -> tuple[str, int, list[tuple[str, int]]]:
    """(event_id, order_id, [(sku, shipped quantity) per line]) or BadEvent."""
    try:
        order = event["order"]
        lines = [
            (str(item["sku"]), int(item.get("quantity_shipped", item["quantity"])))
            for item in order["items"]
        ]
        return str(event["event_id"]), int(order["order_id"]), lines
    except (KeyError, TypeError, ValueError) as error:
        raise BadEvent(f"not an order event: {error.__class__.__name__}") from None


@app.post("/webhooks/starshipit/orders")
def receive() -> Any:
    body = request.get_data()
    given = request.headers.get("X-Starshipit-Signature", "").encode("ascii", "replace")
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, given):
        return {"error": "signature missing or wrong"}, 401
    try:
        event_id, order_id, lines = shipped_lines(json.loads(body))
    except (ValueError, BadEvent) as error:
        return {"error": str(error)}, 400
    balances = Counter[str]()
    for sku, quantity in lines:
        balances[sku] -= quantity
    try:
        with pool.connection() as conn, conn.transaction():
            stored = conn.execute(STORE_EVENT, (event_id, body)).fetchone()
            if stored is None:
                return {"status": "duplicate", "event_id": event_id}
            with conn.cursor() as cur:
                cur.executemany(
                    ADD_MOVEMENT, [(stored[0], order_id, sku, -qty) for sku, qty in lines]
                )
                cur.executemany(UPSERT_BALANCE, sorted(balances.items()))
    except psycopg.OperationalError:
        return {"error": "storage unavailable, retry"}, 503
    return {"status": "applied", "event_id": event_id}
