"""Non-stock lines and quantity-0 lines in the pure rules (mirror and reconciliation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.orders.domain import (
    PARTIALLY_SHIPPED,
    PENDING,
    SHIPPED,
    Line,
    demand_by_sku,
    derive_status,
    distribute,
    lines_changed,
    nonstock_target,
    shipped_targets,
)
from app.reconcile.domain import (
    MirrorOrder,
    classify_shipped,
    classify_unshipped,
    counts_as_fully_shipped,
    effective_status,
    starshipit_lines,
    starshipit_targets,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
GIFT = Line(None, 1, description="Gift wrap")


def test_a_non_stock_line_has_no_shipped_target_but_its_units_are_counted_apart():
    lines = [Line("A", 2), GIFT]
    assert shipped_targets(lines) == {"A": 2}
    assert nonstock_target(lines) == 1


def test_non_stock_units_follow_quantity_shipped_when_any_line_carries_it():
    lines = [Line("A", 2, 2), Line(None, 3, None), Line(None, 2, 1)]
    assert nonstock_target(lines) == 1
    assert shipped_targets(lines) == {"A": 2}


def test_quantity_zero_and_non_stock_lines_create_no_stock_demand():
    assert demand_by_sku([Line("A", 0), Line("B", 2), Line("B", 0), GIFT]) == {"B": 2}


def test_changing_only_a_non_stock_line_is_not_a_change_of_lines_for_allocation():
    assert not lines_changed([Line("A", 1), GIFT], [Line("A", 1), Line(None, 5)])
    assert lines_changed([Line("A", 1)], [Line("A", 2)])


def test_an_order_of_only_non_stock_lines_that_shipped_is_shipped():
    lines = [GIFT, Line(None, 2)]
    assert derive_status(lines, {}, deleted_is_newest=False, allocated_units=0) == PENDING
    status = derive_status(
        lines, {}, deleted_is_newest=False, allocated_units=0, nonstock_shipped=3
    )
    assert status == SHIPPED


def test_stock_shipped_in_full_with_a_non_stock_line_left_is_partially_shipped():
    lines = [Line("A", 2), GIFT]
    shipped = {"A": 2}
    assert derive_status(lines, shipped, deleted_is_newest=False, allocated_units=0) == (
        PARTIALLY_SHIPPED
    )
    assert (
        derive_status(
            lines, shipped, deleted_is_newest=False, allocated_units=0, nonstock_shipped=1
        )
        == SHIPPED
    )


def test_quantity_zero_lines_never_hold_an_order_in_partially_shipped():
    lines = [Line("A", 2), Line("B", 0)]
    assert derive_status(lines, {"A": 2}, deleted_is_newest=False, allocated_units=0) == SHIPPED


def test_shipped_units_are_spread_over_stock_and_non_stock_lines_apart():
    lines = [Line("A", 1), Line(None, 2), Line("A", 2), Line(None, 1)]
    assert distribute(lines, {"A": 2}, nonstock=2) == [1, 2, 1, 0]


def order(status="Shipped", items=()):
    return {"order_id": 1, "order_number": "N-1", "status": status, "items": list(items)}


def test_an_item_without_a_sku_or_with_an_empty_one_is_a_non_stock_line_from_the_rest_api():
    lines = starshipit_lines(order(items=[{"quantity": 1}, {"sku": "", "quantity": 2}]))
    assert [(x.sku, x.quantity) for x in lines] == [(None, 1), (None, 2)]


def test_a_shipped_order_with_no_positive_quantity_shipped_counts_as_shipped_in_full():
    zeros = order(items=[{"sku": "A", "quantity": 2, "quantity_shipped": 0}])
    assert counts_as_fully_shipped(zeros, listed_as_shipped=True)
    assert starshipit_targets(zeros, listed_as_shipped=True) == {"A": 2}
    unshipped = order("Unshipped", items=[{"sku": "A", "quantity": 2, "quantity_shipped": 0}])
    assert not counts_as_fully_shipped(unshipped, listed_as_shipped=False)
    assert starshipit_targets(unshipped, listed_as_shipped=False) == {}
    partial = order(items=[{"sku": "A", "quantity": 2, "quantity_shipped": 1}])
    assert not counts_as_fully_shipped(partial, listed_as_shipped=True)
    assert starshipit_targets(partial, listed_as_shipped=True) == {"A": 1}


def mirror(status, demand, shipped, *, nonstock=(0, 0)):
    return MirrorOrder(1, "N-1", status, demand, shipped, None, *nonstock)


def test_quantity_zero_lines_let_a_shipped_order_match_without_a_detail_call():
    # the repository builds demand with demand_by_sku: the 0 line is not in it
    m = mirror(SHIPPED, demand_by_sku([Line("A", 2), Line("B", 0)]), {"A": 2})
    assert m.consistently_shipped


def test_an_order_of_only_non_stock_lines_shipped_matches_without_a_detail_call():
    assert mirror(SHIPPED, {}, {}, nonstock=(2, 2)).consistently_shipped


def test_non_stock_lines_never_make_drift_in_the_shipped_pass():
    starshipit = order(items=[{"sku": "A", "quantity": 1}, {"description": "Gift", "quantity": 1}])
    # the mirror shipped the stock units; it has not recorded the gift wrap leaving
    m = mirror(PARTIALLY_SHIPPED, {"A": 1}, {"A": 1}, nonstock=(1, 0))
    assert classify_shipped(m, starshipit, fetched_at=NOW) == []
    only_gift = order(items=[{"description": "Gift", "quantity": 1}])
    assert (
        classify_shipped(mirror(PENDING, {}, {}, nonstock=(1, 0)), only_gift, fetched_at=NOW) == []
    )


def test_an_unknown_order_with_non_stock_lines_names_them():
    starshipit = order(items=[{"sku": "A", "quantity": 1}, {"description": "Gift", "quantity": 2}])
    [row] = classify_shipped(None, starshipit, fetched_at=NOW)
    assert row.category == "unknown_order"
    assert "A ×1" in row.detail and "non-stock 'Gift' ×2 (no stock moved)" in row.detail


def test_a_mirror_shipped_by_non_stock_units_alone_is_not_drift_while_listed_unshipped():
    m = mirror(SHIPPED, {}, {}, nonstock=(1, 1))
    assert classify_unshipped(m, order("Unshipped", [{"quantity": 1}])) == []
    shipped_stock = mirror(SHIPPED, {"A": 1}, {"A": 1})
    assert classify_unshipped(shipped_stock, order("Unshipped", [{"sku": "A", "quantity": 1}]))


def test_a_running_run_whose_lease_ran_out_shows_as_interrupted():
    assert effective_status("running", NOW - timedelta(seconds=1), NOW) == "interrupted"
    assert effective_status("running", NOW + timedelta(seconds=1), NOW) == "running"
    assert effective_status("failed", NOW - timedelta(days=1), NOW) == "failed"
