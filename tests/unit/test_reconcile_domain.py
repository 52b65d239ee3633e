"""Pure reconciliation rules: what Starshipit shipped, synthetic event times, classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.reconcile.domain import (
    MirrorOrder,
    classify_shipped,
    classify_unlisted,
    classify_unshipped,
    starshipit_targets,
    synthetic_time,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def order(status="Shipped", **items):
    lines = []
    for sku, spec in items.items():
        qty, shipped = spec if isinstance(spec, tuple) else (spec, None)
        line = {"sku": sku, "quantity": qty}
        if shipped is not None:
            line["quantity_shipped"] = shipped
        lines.append(line)
    return {"order_id": 1, "order_number": "N-1", "status": status, "items": lines}


def mirror(status="SHIPPED", demand=None, shipped=None, newest=None):
    return MirrorOrder(1, "N-1", status, demand or {}, shipped or {}, newest)


def test_quantity_shipped_wins_over_quantity_when_any_line_carries_it():
    assert starshipit_targets(order(A=(3, 1), B=2), listed_as_shipped=True) == {"A": 1}


def test_without_quantity_shipped_a_shipped_order_ships_every_unit():
    assert starshipit_targets(order(A=3, B=2), listed_as_shipped=True) == {"A": 3, "B": 2}


def test_an_unshipped_status_ships_nothing_unless_listed_as_shipped():
    assert starshipit_targets(order("Unshipped", A=3), listed_as_shipped=False) == {}
    assert starshipit_targets(order("Printed", A=3), listed_as_shipped=False) == {"A": 3}


def test_lines_of_one_sku_add_up():
    same = {"order_id": 1, "items": [{"sku": "A", "quantity": 2}, {"sku": "A", "quantity": 1}]}
    assert starshipit_targets(same, listed_as_shipped=True) == {"A": 3}


def test_synthetic_time_is_now_unless_the_mirror_has_something_newer():
    assert synthetic_time(NOW, NOW - timedelta(hours=1)) == NOW
    future = NOW + timedelta(days=3)
    assert synthetic_time(NOW, future) == future + timedelta(milliseconds=1)
    assert synthetic_time(NOW, None) == NOW


def test_matching_shipment_is_not_drift():
    m = mirror(demand={"A": 2}, shipped={"A": 2})
    assert m.consistently_shipped
    assert classify_shipped(m, order(A=(2, 2)), fetched_at=NOW) == []


def test_nothing_in_the_ledger_is_a_missing_shipment_per_sku_carrying_the_snapshot():
    rows = classify_shipped(mirror("PENDING", {"A": 2, "B": 1}), order(A=2, B=1), fetched_at=NOW)
    assert [(r.category, r.sku, r.expected, r.actual) for r in rows] == [
        ("missing_shipment", "A", "2", "0"),
        ("missing_shipment", "B", "1", "0"),
    ]
    assert rows[0].snapshot["order_id"] == 1
    assert rows[0].snapshot_at == NOW


def test_partial_ledger_is_a_quantity_mismatch_only_for_the_differing_sku():
    m = mirror("PARTIALLY_SHIPPED", {"A": 2, "B": 1}, {"A": 1, "B": 1})
    rows = classify_shipped(m, order(A=2, B=1), fetched_at=NOW)
    assert [(r.category, r.sku, r.expected, r.actual) for r in rows] == [
        ("quantity_mismatch", "A", "2", "1")
    ]


def test_ledger_agreeing_but_mirror_partially_shipped_is_a_status_mismatch():
    m = mirror("PARTIALLY_SHIPPED", {"A": 3}, {"A": 2})
    rows = classify_shipped(m, order(A=(2, 2)), fetched_at=NOW)
    assert [(r.category, r.expected, r.actual) for r in rows] == [
        ("status_mismatch", "SHIPPED", "PARTIALLY_SHIPPED")
    ]


def test_unlisted_order_starshipit_never_shipped_is_unexpected_and_not_repairable():
    rows = classify_unlisted(mirror(shipped={"A": 2}), order("Unshipped", A=2), fetched_at=NOW)
    assert [(r.category, r.sku, r.expected, r.actual) for r in rows] == [
        ("unexpected_shipment", "A", "0", "2")
    ]
    assert rows[0].snapshot is None


def test_unshipped_order_missing_cancelled_or_shipped_in_the_mirror():
    assert classify_unshipped(None, order("Unshipped", A=1))[0].category == "unshipped_missing"
    assert classify_unshipped(mirror("CANCELLED"), order("Unshipped", A=1))[0].actual == "CANCELLED"
    assert classify_unshipped(mirror("PENDING"), order("Unshipped", A=1)) == []
