"""Pure allocation rules: strategies, whole-order plans, bundles, over-allocation order."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.allocation.domain import Rule, first_match, order_facts, rules_from_document
from app.allocation.strategies import (
    Demand,
    Place,
    Stock,
    attribute,
    book,
    explode,
    line_units,
    overallocated_orders,
    plan,
    plan_order,
)


def slot(location, available, batch="", kind="bulk", sequence=0, received=None, expiry=None):
    return Place(location, batch, available, kind, sequence, received, expiry)


def picks(p):
    return [(x.location, x.batch, x.quantity) for x in p.picks]


def test_fifo_takes_the_oldest_received_batch_first():
    stock = [
        slot("A", 5, "NEW", received=datetime(2026, 3, 1)),
        slot("B", 5, "OLD", received=datetime(2026, 1, 1)),
    ]
    assert picks(plan(stock, 7, "fifo")) == [("B", "OLD", 5), ("A", "NEW", 2)]


def test_fefo_takes_the_earliest_expiry_first_whatever_its_receipt():
    stock = [
        slot("A", 5, "OLD-LATE", received=datetime(2026, 1, 1), expiry=date(2027, 6, 1)),
        slot("B", 5, "NEW-SOON", received=datetime(2026, 3, 1), expiry=date(2026, 12, 1)),
        slot("C", 5, "NO-EXPIRY", received=datetime(2025, 1, 1)),
    ]
    assert picks(plan(stock, 12, "fefo")) == [
        ("B", "NEW-SOON", 5),
        ("A", "OLD-LATE", 5),
        ("C", "NO-EXPIRY", 2),
    ]


def test_pick_face_first_then_bulk_suggests_a_replenishment():
    stock = [
        slot("BULK-1", 50, kind="bulk"),
        slot("PF-2", 1, kind="pick_face", sequence=2),
        slot("PF-1", 2, kind="pick_face", sequence=1),
    ]
    result = plan(stock, 5, "pick_face_first", "SKU")
    assert picks(result) == [("PF-1", "", 2), ("PF-2", "", 1), ("BULK-1", "", 2)]
    assert [(r.from_location, r.to_location, r.quantity) for r in result.replenish] == [
        ("BULK-1", "PF-1", 2)
    ]
    assert result.audit()["replenish"] == [{"from": "BULK-1", "to": "PF-1", "quantity": 2}]


def test_a_short_plan_reports_the_missing_units_and_ignores_empty_slots():
    result = plan([slot("A", 2), slot("B", 0), slot("C", -3)], 5, "fifo")
    assert picks(result) == [("A", "", 2)]
    assert result.short == 3


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        plan([], 1, "lifo")


def test_whole_order_plan_is_all_or_nothing_unless_partial_is_allowed():
    stock = Stock({"A": [Place("L", "", 5)], "B": [Place("L", "", 1)]})
    demand = [Demand("A", "A", 1, 2), Demand("B", "B", 1, 3)]

    strict = plan_order(stock, demand, lambda _: "fifo", allow_partial=False)
    partial = plan_order(stock, demand, lambda _: "fifo", allow_partial=True)

    assert strict.allocated == 0
    assert [s.to_dict() for s in strict.shortages] == [{"sku": "B", "needed": 3, "available": 1}]
    assert partial.allocated == 3


def test_booking_a_plan_leaves_less_for_the_next_order():
    stock = Stock({"A": [Place("L", "", 3)]})
    first = plan_order(stock, [Demand("A", "A", 1, 2)], lambda _: "fifo", allow_partial=False)
    book(stock, first)
    second = plan_order(stock, [Demand("A", "A", 1, 2)], lambda _: "fifo", allow_partial=False)
    assert first.complete and not second.complete
    assert stock.available("A") == 1


def test_exploding_bundles_become_components_summed_across_the_order():
    components = {"KIT": [("A", 2), ("B", 1)]}
    demand = explode([("KIT", 2), ("A", 1), ("KIT", 1)], components)
    assert sorted((d.line_sku, d.sku, d.quantity) for d in demand) == [
        ("A", "A", 1),
        ("KIT", "A", 6),
        ("KIT", "B", 3),
    ]


def test_picks_are_attributed_to_the_lines_that_asked_and_bundles_count_whole_units():
    components = {"KIT": [("A", 2), ("B", 1)]}
    lines = [("KIT", 2), ("A", 1)]
    stock = Stock({"A": [Place("L", "", 4)], "B": [Place("L", "", 5)]})
    order_plan = plan_order(stock, explode(lines, components), lambda _: "fifo", allow_partial=True)
    reserved: dict[tuple[str, str], int] = {}
    for p, share in attribute(order_plan):
        key = (share.line_sku, p.sku)
        reserved[key] = reserved.get(key, 0) + share.quantity
    # A: 4 available for 5 wanted (KIT ×2 → 4, then line A → 0)
    assert reserved == {("KIT", "A"): 4, ("KIT", "B"): 2}
    assert line_units(lines, reserved, components) == [2, 0]


def test_overallocation_marks_newest_orders_until_the_excess_is_covered():
    newest_first = [(30, 2), (20, 2), (10, 2)]
    assert overallocated_orders(3, newest_first) == [30, 20]
    assert overallocated_orders(0, newest_first) == []
    assert overallocated_orders(9, newest_first) == [30, 20, 10]


def test_auto_rules_match_platform_country_and_account_case_insensitively():
    rules = rules_from_document(
        [{"platform": "Shopify", "country": "NZ"}, {"account_id": "wholesale"}]
    )
    nz_shopify = order_facts("default", "shopify", {"country": "nz"})
    au_shopify = order_facts("default", "Shopify", {"country": "AU"})
    wholesale = order_facts("wholesale", None, None)
    assert first_match(rules, nz_shopify) == rules[0]
    assert first_match(rules, au_shopify) is None
    assert first_match(rules, wholesale) == rules[1]
    assert Rule(id="x", enabled=False).matches(nz_shopify) is False


@pytest.mark.parametrize(
    "document",
    [{"rules": "all"}, [1], [{"platform": 3}], [{"colour": "red"}], [{"enabled": "yes"}]],
)
def test_malformed_rule_documents_are_refused(document):
    with pytest.raises(ValueError):
        rules_from_document(document)


@given(
    st.lists(st.integers(min_value=-3, max_value=8), min_size=0, max_size=6),
    st.integers(min_value=0, max_value=30),
    st.sampled_from(["fifo", "fefo", "pick_face_first"]),
)
def test_a_plan_never_takes_more_than_a_slot_holds_nor_more_than_asked(sizes, demand, strategy):
    stock = [
        slot(
            f"L{n}", size, kind="pick_face" if n % 2 else "bulk", received=datetime(2026, 1, n + 1)
        )
        for n, size in enumerate(sizes)
    ]
    result = plan(stock, demand, strategy)
    held = {s.location: s.available for s in stock}
    assert all(0 < p.quantity <= held[p.location] for p in result.picks)
    assert result.allocated == min(demand, sum(max(s, 0) for s in sizes))
