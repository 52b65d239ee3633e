"""counted_by_key and decide_stocktake decide a stocktake from loaded state (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.decisions import StocktakeState, counted_by_key, decide_stocktake
from app.ledger.domain import STOCKTAKE, LedgerError


def state(book, now=None, moved=()):
    return StocktakeState(
        id=7, location="BULK-1", book=book, now=book if now is None else now, moved_since=moved
    )


def test_only_differing_counts_are_posted_and_uncounted_lines_are_named():
    book = {("A", ""): 5, ("B", ""): 2, ("C", ""): 1}

    decision = decide_stocktake(state(book), {("A", ""): 3, ("B", ""): 2}, "tester")

    assert [(r.sku, r.status) for r in decision.results] == [("A", "applied"), ("B", "unchanged")]
    [movement] = decision.movements
    assert (movement.key, movement.sku, movement.quantity, movement.type) == (
        "stocktake:7:A:",
        "A",
        -2,
        STOCKTAKE,
    )
    assert (movement.location, movement.reference) == ("BULK-1", "stocktake-7")
    assert movement.reason == "stocktake 7: counted 3, book 5"
    assert decision.not_counted == [("C", "")]


def test_a_sku_that_moved_since_the_count_opened_is_reported_not_applied():
    book = {("A", ""): 5, ("B", ""): 5}

    late = decide_stocktake(state(book, now={("A", ""): 4, ("B", ""): 5}), {("A", ""): 1}, "t")
    logged = decide_stocktake(state(book, moved={"B"}), {("B", ""): 1}, "t")
    new_batch = decide_stocktake(state(book, now={**book, ("A", "L9"): 1}), {("A", ""): 1}, "t")

    for decision in (late, logged, new_batch):
        assert [r.status for r in decision.results] == ["moved"]
        assert decision.movements == []


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        ([], "counts"),
        ([("A", "", 1), ("B", "", -1)], "counts[1].counted"),
        ([("A", "", 1), ("A", "", 2)], "counts[1].sku"),
    ],
)
def test_empty_negative_or_repeated_counts_are_refused_naming_the_count(counts, field):
    with pytest.raises(LedgerError) as refused:
        counted_by_key(counts)

    assert refused.value.field == field


balances = st.dictionaries(
    st.tuples(st.sampled_from(("A", "B", "C")), st.sampled_from(("", "L1"))), st.integers(0, 9)
)


@given(balances, balances)
def test_a_stocktake_decisions_movements_bring_every_counted_balance_to_its_count(book, counts):
    decision = decide_stocktake(state(book), counts, "tester")

    after = dict(book)
    for m in decision.movements:
        after[(m.sku, m.batch)] = after.get((m.sku, m.batch), 0) + m.quantity
    for key, counted in counts.items():
        assert after.get(key, 0) == counted
    assert all(m.quantity != 0 for m in decision.movements)
