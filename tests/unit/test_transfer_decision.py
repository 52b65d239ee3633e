"""check_transfer and decide_transfer decide a transfer from loaded state (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.decisions import TransferRequest, check_transfer, decide_transfer
from app.ledger.domain import TRANSFER_IN, TRANSFER_OUT, LedgerError, NewMovement

TEMPLATE = NewMovement(
    key="transfer:T-1:",
    sku="A",
    quantity=0,
    type=TRANSFER_OUT,
    location="L1",
    actor="tester",
    reference="T-1",
    reason="transfer L1 → L2",
    request_sha256="digest",
)
KNOWN = {"L1", "L2"}


def test_a_transfer_is_a_keyed_pair_out_of_one_location_and_into_the_other():
    request = TransferRequest("A", 3, "L1", "L2", "")

    out, into = decide_transfer(request, KNOWN, "none", TEMPLATE)

    assert (out.key, out.type, out.location, out.quantity) == (
        "transfer:T-1:out",
        TRANSFER_OUT,
        "L1",
        -3,
    )
    assert (into.key, into.type, into.location, into.quantity) == (
        "transfer:T-1:in",
        TRANSFER_IN,
        "L2",
        3,
    )
    assert {(m.reference, m.reason, m.request_sha256) for m in (out, into)} == {
        ("T-1", "transfer L1 → L2", "digest")
    }


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (TransferRequest("A", 0, "L1", "L2", ""), "quantity"),
        (TransferRequest("A", 1, "L1", "L1", ""), "to"),
    ],
)
def test_a_transfer_of_nothing_or_to_its_own_location_is_refused(request_, field):
    with pytest.raises(LedgerError) as refused:
        check_transfer(request_)

    assert refused.value.field == field


@pytest.mark.parametrize(
    ("request_", "tracking", "field"),
    [
        (TransferRequest("A", 1, "NOWHERE", "L2", ""), "none", "from"),
        (TransferRequest("A", 1, "L1", "NOWHERE", ""), "none", "to"),
        (TransferRequest("A", 1, "L1", "L2", ""), None, "sku"),
        (TransferRequest("A", 1, "L1", "L2", ""), "batch", "batch"),
        (TransferRequest("A", 2, "L1", "L2", "S1"), "serial", "quantity"),
    ],
)
def test_a_transfer_the_ledger_cannot_hold_is_refused_naming_its_field(request_, tracking, field):
    with pytest.raises(LedgerError) as refused:
        decide_transfer(request_, KNOWN, tracking, TEMPLATE)

    assert refused.value.field == field


@given(
    st.integers(1, 1000),
    st.sampled_from(("L1", "L2")),
    st.sampled_from(("", "B1")),
    st.sampled_from(("none", "batch")),
)
def test_a_transfers_movements_sum_to_zero_per_sku(quantity, origin, batch, tracking):
    request = TransferRequest("A", quantity, origin, "L2" if origin == "L1" else "L1", batch)
    try:
        movements = decide_transfer(request, KNOWN, tracking, TEMPLATE)
    except LedgerError as refused:
        assert (tracking, batch, refused.field) == ("batch", "", "batch")
        return

    assert sum(m.quantity for m in movements) == 0
    assert {(m.sku, m.batch) for m in movements} == {("A", batch)}
    assert sorted(m.location for m in movements) == ["L1", "L2"]
