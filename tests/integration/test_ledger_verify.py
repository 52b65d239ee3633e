"""Ledger verify rebuilds every balance from the movements (issue 3 §9)."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.ledger.verify import Difference, merge
from tests.e2e.inventory_helpers import call, location, ok, receive
from tests.helpers import post_event, shipped_event


def test_a_consistent_ledger_verifies_clean_through_the_api_and_the_cli(client, database_url):
    location(client, "BULK-1")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 1}])
    receive(client, "GRN-2", [{"sku": "A", "quantity": 5}], location="BULK-1")
    post_event(client, shipped_event("e1", 1, [("A", 7, None), ("C", 1, None)]))

    report = ok(call(client, "GET", "/api/ledger/verify"))
    result = CliRunner().invoke(main, ["ledger", "verify"], env={"DATABASE_URL": database_url})

    assert report == {
        "ok": True,
        "balances_checked": 4,
        "differences": [],
        "truncated": False,
        "serials_on_hand_twice": [],
    }
    assert result.exit_code == 0, result.output
    assert "4 balances checked, 0 differences" in result.output


def test_every_difference_between_balances_and_movements_is_reported(client, engine, database_url):
    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 2}])
    with engine.begin() as conn:  # corrupt the projection behind the ledger's back
        conn.execute(sa.text("UPDATE stock_balances SET on_hand = 4 WHERE sku = 'A'"))
        conn.execute(sa.text("DELETE FROM stock_balances WHERE sku = 'B'"))
    try:
        report = ok(call(client, "GET", "/api/ledger/verify"))
        result = CliRunner().invoke(main, ["ledger", "verify"], env={"DATABASE_URL": database_url})
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE stock_balances SET on_hand = 5 WHERE sku = 'A'"))
            conn.execute(
                sa.text(
                    "INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, "
                    "updated_at) VALUES ('B', 'DEFAULT', '', 2, 0, CURRENT_TIMESTAMP)"
                )
            )

    assert report["ok"] is False
    assert [(d["sku"], d["movements"], d["balance"]) for d in report["differences"]] == [
        ("A", 5, 4),
        ("B", 2, 0),
    ]
    assert result.exit_code == 1
    assert "DIFF A @ DEFAULT: movements 5, balance 4" in result.output


def test_the_merge_walks_both_sorted_streams_once():
    moved = iter([(("A", "L", ""), 3), (("B", "L", ""), 1), (("D", "L", ""), 0)])
    balances = iter([(("A", "L", ""), 3), (("C", "L", ""), 2), (("D", "L", ""), 0)])

    found = [d for d in merge(moved, balances) if d is not None]

    assert found == [
        Difference("B", "L", "", movements=1, balance=0),
        Difference("C", "L", "", movements=0, balance=2),
    ]


def test_a_serial_on_hand_twice_is_reported(client, engine):
    ok(call(client, "POST", "/api/products", {"sku": "CAM", "tracking": "serial"}), 201)
    location(client, "BULK-1")
    receive(client, "GRN-1", [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}])
    # An adjustment can't name a batch, so fake a second unit behind the ledger's back,
    # in both the movements and the balance (balances still equal the movements).
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO stock_movements (key, sku, location, batch, quantity, type, actor, "
                "created_at) VALUES ('x', 'CAM', 'BULK-1', 'S1', 1, 'adjustment', 't', "
                "CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, "
                "updated_at) VALUES ('CAM', 'BULK-1', 'S1', 1, 0, CURRENT_TIMESTAMP)"
            )
        )

    report = ok(call(client, "GET", "/api/ledger/verify"))

    assert report["ok"] is False
    assert report["differences"] == []
    assert report["serials_on_hand_twice"] == [{"sku": "CAM", "serial": "S1", "on_hand": 2}]
