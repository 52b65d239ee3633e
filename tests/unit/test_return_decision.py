"""decide_return decides a return's movements from loaded state alone (no database)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.ledger.domain import RETURN, RETURN_DAMAGED, LedgerError, NewMovement
from app.ledger.strategies import Take
from app.orders.returns_domain import (
    ReturnLine,
    ReturnState,
    decide_return,
    units_coming_back,
)

TEMPLATE = NewMovement(
    key="return:acc:1:RMA-1:",
    sku="",
    quantity=0,
    type=RETURN,
    location="",
    actor="tester",
    reference="RMA-1",
    reason="return of order 1",
    account_id="acc",
    order_id=1,
    request_sha256="digest",
)
KINDS = {
    "DEFAULT": "bulk",
    "BULK-1": "bulk",
    "DAMAGED": "non_sellable",
    "QUARANTINE": "non_sellable",
}


def state(
    shipped: dict[str, int],
    returned: dict[str, int] | None = None,
    shipped_from: dict[tuple[str, str | None], list[Take]] | None = None,
    parts_returned: dict[tuple[str, str | None], int] | None = None,
    components: dict[str, list[tuple[str, int]]] | None = None,
) -> ReturnState:
    return ReturnState(
        shipped=shipped,
        returned=returned or {},
        location_kinds=KINDS,
        default_location="DEFAULT",
        components=components or {},
        parts_returned=parts_returned or {},
        shipped_from=shipped_from or {},
    )


def moved(lines: list[ReturnLine], loaded: ReturnState) -> list[tuple[str, str, str, str, int]]:
    decision = decide_return(lines, loaded, TEMPLATE)
    return [(m.sku, m.type, m.location, m.batch, m.quantity) for m in decision.movements]


def test_restocked_and_damaged_units_come_back_as_the_batches_the_order_shipped():
    loaded = state(
        {"A": 3}, shipped_from={("A", None): [Take("BULK-1", "B2", 1), Take("X", "B1", 2)]}
    )

    got = moved([ReturnLine("A", 2, "restock", "BULK-1"), ReturnLine("A", 1, "damaged")], loaded)

    assert got == [
        ("A", RETURN, "BULK-1", "B2", 1),
        ("A", RETURN, "BULK-1", "B1", 1),
        ("A", RETURN_DAMAGED, "DAMAGED", "B1", 1),
    ]


def test_movements_carry_the_request_keys_and_the_timeline_names_each_line():
    lines = [ReturnLine("A", 1, "restock"), ReturnLine("A", 1, "damaged", "QUARANTINE")]
    decision = decide_return(lines, state({"A": 2}), TEMPLATE)

    assert [m.key for m in decision.movements] == ["return:acc:1:RMA-1:0", "return:acc:1:RMA-1:1"]
    assert {(m.account_id, m.order_id, m.request_sha256) for m in decision.movements} == {
        ("acc", 1, "digest")
    }
    assert decision.detail("RMA-1", lines) == (
        "return RMA-1: A ×1 restock → DEFAULT, A ×1 damaged → QUARANTINE"
    )


def test_return_of_more_than_shipped_minus_returned_is_refused_naming_the_line():
    lines = [ReturnLine("A", 1, "restock"), ReturnLine("A", 2, "restock")]

    with pytest.raises(LedgerError) as refused:
        decide_return(lines, state({"A": 3}, returned={"A": 1}), TEMPLATE)

    assert refused.value.field == "lines[1].quantity"
    assert "already returned 1" in str(refused.value)


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        (ReturnLine("A", 1, "lost"), "lines[0].disposition", "restock or damaged"),
        (ReturnLine("A", 0, "restock"), "lines[0].quantity", "positive"),
        (ReturnLine("A", 1, "restock", "NOWHERE"), "lines[0].location", "unknown location"),
        (ReturnLine("A", 1, "restock", "QUARANTINE"), "lines[0].location", "sellable"),
        (ReturnLine("A", 1, "damaged", "BULK-1"), "lines[0].location", "non_sellable"),
    ],
)
def test_a_wrong_line_is_refused_naming_its_field(line, field, words):
    with pytest.raises(LedgerError) as refused:
        decide_return([line], state({"A": 5}), TEMPLATE)

    assert refused.value.field == field
    assert words in str(refused.value)


def test_an_exploding_bundle_comes_back_as_its_components():
    loaded = state(
        {"KIT": 3},
        components={"KIT": [("CUP", 2), ("LID", 1)]},
        shipped_from={
            ("CUP", "KIT"): [Take("DEFAULT", "", 6)],
            ("LID", "KIT"): [Take("DEFAULT", "", 3)],
        },
    )

    got = decide_return([ReturnLine("KIT", 1, "restock")], loaded, TEMPLATE).movements

    assert [(m.sku, m.quantity, m.bundle_sku) for m in got] == [
        ("CUP", 2, "KIT"),
        ("LID", 1, "KIT"),
    ]


def test_units_beyond_the_shipment_records_come_back_once_each_not_once_per_unit_returned():
    # The bug: records covering fewer units than already returned made the shortfall
    # count the earlier units again (2 units written for the second line's 1).
    loaded = state({"A": 3}, components={"A": [("CUP", 1)]})

    got = moved([ReturnLine("A", 1, "restock"), ReturnLine("A", 1, "damaged")], loaded)

    assert got == [("CUP", RETURN, "DEFAULT", "", 1), ("CUP", RETURN_DAMAGED, "DAMAGED", "", 1)]


def test_units_already_returned_beyond_the_records_leave_the_rest_unrecorded():
    loaded = state(
        {"A": 5},
        returned={"A": 3},
        shipped_from={("A", None): [Take("DEFAULT", "B1", 2)]},
        parts_returned={("A", None): 3},
    )

    assert moved([ReturnLine("A", 2, "restock")], loaded) == [("A", RETURN, "DEFAULT", "", 2)]


takes = st.lists(
    st.builds(
        Take, st.sampled_from(("L1", "L2")), st.sampled_from(("", "B1", "B2")), st.integers(1, 4)
    ),
    max_size=4,
)


@given(takes, st.integers(0, 12), st.integers(1, 6))
def test_units_coming_back_are_exactly_the_units_asked_whatever_the_records_cover(
    shipped_from, skip, units
):
    back = units_coming_back(shipped_from, skip, units, "DEFAULT")

    assert sum(t.quantity for t in back) == units
    assert all(t.quantity > 0 for t in back)


@given(takes, st.integers(0, 12), st.integers(1, 6))
def test_units_coming_back_name_only_recorded_batches_past_those_already_returned(
    shipped_from, skip, units
):
    back = units_coming_back(shipped_from, skip, units, "DEFAULT")

    recorded = sum(t.quantity for t in shipped_from)
    named = sum(t.quantity for t in back if t.location != "DEFAULT")
    assert named <= max(0, min(units, recorded - skip))


@given(
    st.integers(0, 8),
    st.integers(0, 8),
    st.lists(st.tuples(st.integers(1, 4), st.sampled_from(("restock", "damaged"))), max_size=4),
    st.integers(0, 10),
    st.booleans(),
)
def test_a_return_never_returns_more_than_was_shipped_minus_already_returned(
    shipped, returned, asked, recorded, bundle
):
    assume(returned <= shipped)
    loaded = state(
        {"A": shipped},
        returned={"A": returned},
        components={"A": [("CUP", 2)]} if bundle else {},
        shipped_from={
            ("CUP" if bundle else "A", "A" if bundle else None): [Take("X", "B", recorded)]
        },
        parts_returned={
            ("CUP" if bundle else "A", "A" if bundle else None): returned * (2 if bundle else 1)
        },
    )
    lines = [ReturnLine("A", qty, disposition) for qty, disposition in asked]

    try:
        decision = decide_return(lines, loaded, TEMPLATE)
    except LedgerError:
        assert sum(q for q, _ in asked) > shipped - returned
        return

    per = 2 if bundle else 1
    assert sum(m.quantity for m in decision.movements) == sum(q for q, _ in asked) * per
    assert sum(q for q, _ in asked) <= shipped - returned
