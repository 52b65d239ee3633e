"""Pure ledger rules: picking order, bundles, stocktake judgement, replenishment."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.ledger.domain import (
    LedgerError,
    bundle_units,
    check_return,
    judge_counts,
    replenishment,
    shipment_movement,
)
from app.ledger.strategies import Place, Take, by_origin, explode, give_back, order_places, take


def t(day: int) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC)


PLACES = [
    Place("BULK", "OLD", 5, "bulk", 0, t(1), date(2027, 6, 1)),
    Place("BULK", "NEW", 5, "bulk", 0, t(9), date(2027, 1, 1)),
    Place("PF", "MID", 2, "pick_face", 1, t(5), date(2027, 3, 1)),
    Place("DAMAGED", "OLDEST", 9, "non_sellable", 0, t(1), date(2026, 12, 1)),
    Place("PF", "EMPTY", 0, "pick_face", 0, t(1), None),
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("fifo", ["OLD", "MID", "NEW"]),
        (None, ["OLD", "MID", "NEW"]),
        ("fefo", ["NEW", "MID", "OLD"]),
        ("pick_face_first", ["MID", "OLD", "NEW"]),
    ],
)
def test_places_are_ordered_by_strategy_and_never_include_unsellable_or_empty_ones(
    strategy, expected
):
    assert [p.batch for p in order_places(PLACES, strategy)] == expected


def test_take_stops_at_the_quantity_and_reports_the_shortfall():
    ordered = order_places(PLACES, "fifo")
    assert take(ordered, 6) == ([Take("BULK", "OLD", 5), Take("PF", "MID", 1)], 0)
    assert take(ordered, 15)[1] == 3


def test_units_given_back_return_to_the_newest_places_first():
    shipped_from = [Take("PF", "B2", 2), Take("BULK", "B1", 3)]
    assert give_back(shipped_from, 3) == ([Take("PF", "B2", 2), Take("BULK", "B1", 1)], 0)


def test_bundles_explode_into_components_and_direct_lines_stay_apart():
    deltas = {"KIT": 3, "CUP": 1, "GONE": 0}
    exploded = by_origin(explode(deltas.items(), {"KIT": [("CUP", 2), ("LID", 1)]}))
    assert exploded == {("CUP", None): 1, ("CUP", "KIT"): 6, ("LID", "KIT"): 3}
    assert bundle_units({"CUP": 6, "LID": 3}, {"CUP": 2, "LID": 1}) == 3
    assert bundle_units({"CUP": 6, "LID": 2}, {"CUP": 2, "LID": 1}) == 2


def test_shipment_keys_name_the_place_and_bundle_only_when_needed():
    plain = shipment_movement(
        account_id="a",
        order_id=1,
        order_number="N",
        sku="S",
        delta=2,
        event_id="e",
        location="DEFAULT",
        actor="x",
    )
    placed = shipment_movement(
        account_id="a",
        order_id=1,
        order_number="N",
        sku="S",
        delta=-2,
        event_id="e",
        location="PF",
        batch="B1",
        bundle_sku="KIT",
        actor="x",
    )
    assert plain.key == "shipment:a:1:S:e"
    assert (placed.key, placed.quantity, placed.type) == (
        "shipment_reversal:a:1:S:e:via:KIT@PF/B1",
        2,
        "shipment_reversal",
    )


def test_counts_are_applied_unchanged_or_reported_as_moved():
    results = judge_counts(
        {("A", ""): 5, ("B", ""): 2}, {("A", ""): 4, ("B", ""): 2, ("C", ""): 1}, {"C"}
    )
    assert [(r.sku, r.difference, r.status) for r in results] == [
        ("A", -1, "applied"),
        ("B", 0, "unchanged"),
        ("C", 1, "moved"),
    ]
    with pytest.raises(LedgerError):
        judge_counts({}, {("A", ""): -1}, set())


def test_a_return_can_not_exceed_what_was_shipped_minus_what_came_back():
    check_return("A", 2, shipped=5, returned=3)
    with pytest.raises(LedgerError, match="already returned 3"):
        check_return("A", 3, shipped=5, returned=3)


def test_replenishment_lists_faces_below_their_minimum_with_bulk_from_the_same_warehouse():
    suggestions = replenishment(
        [("A", "PF", "MAIN", 5, 1), ("B", "PF", "MAIN", 2, 2), ("C", "PF2", "EAST", 3, 0)],
        {
            ("A", "MAIN"): [("BULK-1", 3), ("BULK-2", 8)],
            ("A", "EAST"): [("E-1", 50)],
            ("C", "MAIN"): [("BULK-1", 9)],
        },
    )
    assert [(s.sku, s.short_by, s.from_location) for s in suggestions] == [
        ("A", 4, "BULK-2"),
        ("C", 3, None),
    ]
