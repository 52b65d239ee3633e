"""STOCKMIRROR_ALLOCATION=off (the default, headless): shipments are still recorded and
the allocation hooks cost the webhook path no query at all."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.allocation_helpers import balances, create_order, order, order_event, receive
from tests.helpers import post_event


def test_with_allocation_off_webhooks_never_touch_allocation_tables(client, engine):
    receive(client, "SKU-A", 10)
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        create_order(client, 1, [("SKU-A", 2)])
        post_event(
            client,
            order_event(
                1, [("SKU-A", 3)], event_type="order_changed", occurred_at="2026-11-20T03Z"
            ),
        )
        post_event(
            client,
            order_event(
                1, [("SKU-A", 3)], event_type="order_shipped", occurred_at="2026-11-20T04Z"
            ),
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    assert statements
    touching = re.compile(r"\b(allocations|allocation_rules|releases)\b", re.IGNORECASE)
    assert [s for s in statements if touching.search(s)] == []
    body = order(client, 1)
    assert (body["status"], body["allocation_status"]) == ("SHIPPED", "UNALLOCATED")
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (7, 0)}
