"""plan_receipt and decide_receipt decide a receipt from loaded state alone (no database)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.decisions import (
    Expected,
    ExpectedLine,
    ReceiptLine,
    decide_receipt,
    plan_receipt,
)
from app.ledger.domain import RECEIPT, LedgerError, NewMovement

TEMPLATE = NewMovement(
    key="receipt:GRN-1:",
    sku="",
    quantity=0,
    type=RECEIPT,
    location="DEFAULT",
    actor="tester",
    reference="GRN-1",
    request_sha256="digest",
)
TRACKING = {"A": "none", "LOT": "batch", "SER": "serial"}
JAN, FEB = date(2027, 1, 31), date(2027, 2, 28)


def test_each_line_becomes_one_movement_per_place_and_serials_one_unit_each():
    lines = [
        ReceiptLine("A", 3),
        ReceiptLine("LOT", 2, batch="L1", expiry=JAN),
        ReceiptLine("SER", 2, serials=("S1", "S2")),
    ]

    plan = plan_receipt(lines, TRACKING)
    decision = decide_receipt(plan, {}, None, TEMPLATE)

    assert [(m.key, m.sku, m.batch, m.quantity) for m in decision.movements] == [
        ("receipt:GRN-1:0", "A", "", 3),
        ("receipt:GRN-1:1", "LOT", "L1", 2),
        ("receipt:GRN-1:2", "SER", "S1", 1),
        ("receipt:GRN-1:3", "SER", "S2", 1),
    ]
    assert plan.serials == {"SER": ["S1", "S2"]}
    assert decision.expiries == {("LOT", "L1"): JAN}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (ReceiptLine("A", 0), "lines[1].quantity"),
        (ReceiptLine("A", 1, batch="L1"), "lines[1].batch"),
        (ReceiptLine("LOT", 1), "lines[1].batch"),
        (ReceiptLine("SER", 2, serials=("S1",)), "lines[1].serials"),
        (ReceiptLine("SER", 2, serials=("S1", "S1")), "lines[1].serials"),
    ],
)
def test_a_line_that_breaks_its_products_tracking_is_refused_naming_its_field(line, field):
    with pytest.raises(LedgerError) as refused:
        plan_receipt([ReceiptLine("A", 1), line], TRACKING)

    assert refused.value.field == field


def test_a_serial_received_twice_in_one_receipt_is_refused():
    lines = [ReceiptLine("SER", 1, serials=("S1",)), ReceiptLine("SER", 1, serials=("S1",))]

    with pytest.raises(LedgerError, match="serial S1 of SER appears twice"):
        plan_receipt(lines, TRACKING)


def test_a_batch_keeps_its_expiry_and_a_different_one_is_refused():
    plan = plan_receipt([ReceiptLine("LOT", 1, batch="L1", expiry=FEB)], TRACKING)

    with pytest.raises(LedgerError) as refused:
        decide_receipt(plan, {("LOT", "L1"): JAN}, None, TEMPLATE)

    assert refused.value.field == "expiry"
    assert decide_receipt(plan, {("LOT", "L1"): FEB}, None, TEMPLATE).expiries == {}


def test_two_lines_of_one_new_batch_with_different_expiries_are_refused():
    lines = [
        ReceiptLine("LOT", 1, batch="L1", expiry=JAN),
        ReceiptLine("LOT", 1, batch="L1", expiry=FEB),
    ]

    with pytest.raises(LedgerError, match="already has expiry 2027-01-31"):
        decide_receipt(plan_receipt(lines, TRACKING), {("LOT", "L1"): None}, None, TEMPLATE)


def test_receiving_against_an_expected_receipt_raises_its_lines_and_completes_it():
    expected = Expected("PO-1", {"A": ExpectedLine(5, 2), "LOT": ExpectedLine(1, 1)})
    plan = plan_receipt([ReceiptLine("A", 2), ReceiptLine("A", 1)], TRACKING)

    decision = decide_receipt(plan, {}, expected, TEMPLATE)

    assert (decision.received, decision.complete) == ({"A": 3}, True)
    partial = decide_receipt(plan_receipt([ReceiptLine("A", 1)], TRACKING), {}, expected, TEMPLATE)
    assert (partial.received, partial.complete) == ({"A": 1}, False)


def test_a_sku_not_on_the_expected_receipt_is_refused():
    expected = Expected("PO-1", {"A": ExpectedLine(5, 0)})
    plan = plan_receipt([ReceiptLine("LOT", 1, batch="L1")], TRACKING)

    with pytest.raises(LedgerError, match="LOT not on expected receipt PO-1") as refused:
        decide_receipt(plan, {}, expected, TEMPLATE)

    assert refused.value.field == "lines"


@given(st.lists(st.tuples(st.sampled_from(("A", "LOT", "SER")), st.integers(1, 5)), max_size=6))
def test_a_receipt_adds_exactly_the_units_its_lines_name(raw):
    serial = iter(range(1000))
    lines = [
        ReceiptLine(
            sku,
            qty,
            batch="L1" if sku == "LOT" else None,
            serials=tuple(f"S{next(serial)}" for _ in range(qty)) if sku == "SER" else (),
        )
        for sku, qty in raw
    ]

    decision = decide_receipt(plan_receipt(lines, TRACKING), {}, None, TEMPLATE)

    for sku in TRACKING:
        asked = sum(q for s, q in raw if s == sku)
        assert sum(m.quantity for m in decision.movements if m.sku == sku) == asked
    assert all(m.quantity > 0 and m.type == RECEIPT for m in decision.movements)
