"""Where a shipment's units leave from and come back to, decided without a database
(app/ledger/decisions.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from app.ledger.decisions import ShipmentFacts, decide_shipment, serials_not_twice
from app.ledger.strategies import NON_SELLABLE, Place, Take


def day(n: int) -> datetime:
    return datetime(2026, 11, n, tzinfo=UTC)


PLACES = {
    "A": [
        Place("BULK", "OLD", 3, "bulk", 0, day(1)),
        Place("PF", "NEW", 4, "pick_face", 1, day(9)),
        Place("DAMAGED", "OLDEST", 9, NON_SELLABLE, 0, day(1)),
    ]
}


def facts(exploded, strategies=None, shipped_from=None):
    return ShipmentFacts(exploded, strategies or {}, PLACES, shipped_from or {})


def test_units_leave_from_the_strategy_order_and_a_shortfall_from_the_default_location():
    decision = decide_shipment(facts({("A", None): 9}), {}, "DEFAULT")
    assert decision.outgoing == {
        ("A", None): [Take("BULK", "OLD", 3), Take("PF", "NEW", 4), Take("DEFAULT", "", 2)]
    }


def test_the_products_strategy_chooses_the_places():
    decision = decide_shipment(facts({("A", None): 4}, {"A": "pick_face_first"}), {}, "DEFAULT")
    assert decision.outgoing == {("A", None): [Take("PF", "NEW", 4)]}


def test_units_reserved_for_the_order_leave_first_and_are_not_taken_twice():
    reserved = {"A": [Take("PF", "NEW", 2)]}
    decision = decide_shipment(facts({("A", None): 6}), reserved, "DEFAULT")
    # PF/NEW: 2 reserved first; then FIFO: BULK/OLD 3, PF/NEW 1 of the 2 it has left
    assert decision.outgoing == {("A", None): [Take("PF", "NEW", 3), Take("BULK", "OLD", 3)]}


def test_component_demand_is_summed_and_handed_out_to_each_origin_in_turn():
    decision = decide_shipment(facts({("A", None): 2, ("A", "KIT"): 2}), {}, "DEFAULT")
    assert decision.outgoing == {
        ("A", None): [Take("BULK", "OLD", 2)],
        ("A", "KIT"): [Take("BULK", "OLD", 1), Take("PF", "NEW", 1)],
    }


def test_units_coming_back_return_where_the_order_shipped_them_newest_first():
    shipped_from = {("A", None): [Take("PF", "NEW", 1), Take("BULK", "OLD", 3)]}
    decision = decide_shipment(facts({("A", None): -5}, shipped_from=shipped_from), {}, "DEFAULT")
    assert decision.outgoing == {}
    assert decision.returning == {
        ("A", None): [Take("PF", "NEW", 1), Take("BULK", "OLD", 3), Take("DEFAULT", "", 1)]
    }


def test_a_serial_on_hand_again_comes_back_without_its_serial():
    back = [Take("BULK", "SN-1", 1), Take("BULK", "SN-2", 1), Take("BULK", "", 1)]
    assert serials_not_twice(back, {"SN-1": 1}) == [
        Take("BULK", "", 1),
        Take("BULK", "SN-2", 1),
        Take("BULK", "", 1),
    ]


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["A", "B"]), st.sampled_from([None, "KIT", "SET"])),
        st.integers(min_value=1, max_value=20),
        max_size=4,
    ),
    st.integers(min_value=0, max_value=5),
)
def test_every_unit_shipped_leaves_from_a_sellable_place_holding_it_or_the_default(
    exploded, reserved_units
):
    reserved = {"A": [Take("BULK", "OLD", reserved_units)]}
    decision = decide_shipment(facts(exploded), reserved, "DEFAULT")
    assert set(decision.outgoing) == set(exploded)
    for key, takes in decision.outgoing.items():
        assert sum(t.quantity for t in takes) == exploded[key]
        assert all(t.location != "DAMAGED" and t.quantity > 0 for t in takes)
        assert len({(t.location, t.batch) for t in takes}) == len(takes)
    for sku in ("A", "B"):
        held = {(p.location, p.batch): p.available for p in PLACES.get(sku, [])}
        if sku == "A":  # reserved units are allocated there, not counted as available
            held[("BULK", "OLD")] += reserved_units
        used: dict[tuple[str, str], int] = {}
        for (s, _), takes in decision.outgoing.items():
            for t in takes:
                if s == sku and t.location != "DEFAULT":
                    used[(t.location, t.batch)] = used.get((t.location, t.batch), 0) + t.quantity
        assert all(n <= held[k] for k, n in used.items())
