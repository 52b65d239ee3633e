"""The one set of picking orderings (app/ledger/strategies.py), shared by shipments and
allocation: FIFO, FEFO, pick face first, the default, the non-sellable rule, bundles."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.allocation.strategies import plan
from app.ledger.strategies import (
    DEFAULT_STRATEGY,
    NON_SELLABLE,
    STRATEGIES,
    Place,
    by_origin,
    explode,
    order_places,
    sellable,
)


def day(n: int) -> datetime:
    return datetime(2026, 11, n, tzinfo=UTC)


def test_fifo_takes_the_oldest_received_first_and_never_received_stock_last():
    places = [
        Place("A", "NEVER", 5),
        Place("B", "NEW", 5, received_at=day(9)),
        Place("C", "OLD", 5, received_at=day(1)),
    ]
    assert [p.batch for p in order_places(places, "fifo")] == ["OLD", "NEW", "NEVER"]


def test_fefo_puts_stock_without_an_expiry_last():
    places = [
        Place("A", "NO-EXPIRY", 5, received_at=day(1)),
        Place("B", "LATE", 5, received_at=day(2), expiry=date(2027, 6, 1)),
        Place("C", "SOON", 5, received_at=day(3), expiry=date(2027, 1, 1)),
    ]
    assert [p.batch for p in order_places(places, "fefo")] == ["SOON", "LATE", "NO-EXPIRY"]


def test_pick_face_first_puts_every_pick_face_before_bulk_whatever_its_age():
    places = [
        Place("BULK", "OLDEST", 5, "bulk", 0, day(1)),
        Place("PF-2", "NEWEST", 5, "pick_face", 2, day(9)),
        Place("PF-1", "MIDDLE", 5, "pick_face", 1, day(5)),
    ]
    ordered = order_places(places, "pick_face_first")
    assert [p.location for p in ordered] == ["PF-1", "PF-2", "BULK"]


def test_within_a_tie_pick_faces_come_first_then_sequence_then_code():
    places = [
        Place("Z", "", 1, "bulk", 0),
        Place("B", "", 1, "pick_face", 2),
        Place("A", "", 1, "pick_face", 2),
        Place("C", "", 1, "pick_face", 1),
    ]
    for strategy in STRATEGIES:
        assert [p.location for p in order_places(places, strategy)] == ["C", "A", "B", "Z"]


def test_no_strategy_and_an_unknown_name_sort_as_the_default():
    places = [Place("A", "NEW", 1, received_at=day(9)), Place("B", "OLD", 1, received_at=day(1))]
    default = order_places(places, DEFAULT_STRATEGY)
    assert order_places(places, None) == default
    assert order_places(places, "lifo") == default


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_non_sellable_stock_is_never_picked_by_a_shipment_or_an_allocation(strategy):
    places = [
        Place("DAMAGED", "OLDEST", 9, NON_SELLABLE, 0, day(1), date(2026, 12, 1)),
        Place("BULK", "B", 2, "bulk", 0, day(5)),
    ]
    assert [p.location for p in order_places(places, strategy)] == ["BULK"]
    result = plan(places, 5, strategy, "SKU")
    assert [(t.location, t.quantity) for t in result.picks] == [("BULK", 2)]
    assert result.short == 3
    assert not sellable(NON_SELLABLE) and sellable("bulk") and sellable("pick_face")


place_lists = st.lists(
    st.builds(
        Place,
        location=st.sampled_from(["A", "B", "C", "D"]),
        batch=st.sampled_from(["", "X", "Y"]),
        available=st.integers(min_value=-2, max_value=5),
        kind=st.sampled_from(["bulk", "pick_face", NON_SELLABLE]),
        sequence=st.integers(min_value=0, max_value=3),
        received_at=st.none() | st.integers(min_value=1, max_value=28).map(day),
        expiry=st.none() | st.dates(date(2027, 1, 1), date(2027, 12, 31)),
    ),
    max_size=8,
    unique_by=lambda p: (p.location, p.batch),
)


@given(place_lists, st.sampled_from(STRATEGIES), st.randoms())
def test_an_ordering_keeps_exactly_the_sellable_stocked_places_whatever_their_input_order(
    places, strategy, rnd
):
    ordered = order_places(places, strategy)
    shuffled = list(places)
    rnd.shuffle(shuffled)
    assert order_places(shuffled, strategy) == ordered
    assert sorted(ordered, key=repr) == sorted(
        (p for p in places if p.kind != NON_SELLABLE and p.available > 0), key=repr
    )


def test_one_explode_serves_shipments_by_origin_and_allocation_by_line():
    components = {"KIT": [("CUP", 2), ("LID", 1)]}
    demand = explode([("KIT", 2), ("CUP", 1), ("KIT", 1), ("GONE", 0)], components)
    assert [(d.line_sku, d.sku, d.per_unit, d.quantity, d.bundle) for d in demand] == [
        ("KIT", "CUP", 2, 6, "KIT"),
        ("KIT", "LID", 1, 3, "KIT"),
        ("CUP", "CUP", 1, 1, None),
    ]
    assert by_origin(demand) == {("CUP", None): 1, ("CUP", "KIT"): 6, ("LID", "KIT"): 3}
    assert by_origin(explode([("KIT", -1)], components)) == {
        ("CUP", "KIT"): -2,
        ("LID", "KIT"): -1,
    }
