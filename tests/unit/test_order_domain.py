"""Pure order-mirror rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.orders.domain import (
    CANCELLED,
    PARTIALLY_SHIPPED,
    PENDING,
    RELEASED,
    SHIPPED,
    EventKey,
    Line,
    derive_status,
    distribute,
    is_newer,
    lines_changed,
    shipment_deltas,
    shipped_targets,
)
from app.timeutil import parse_time

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def test_target_sums_quantity_shipped_when_any_line_carries_it():
    lines = [Line("A", 3, 1), Line("A", 2, None), Line("B", 4, 4)]
    assert shipped_targets(lines) == {"A": 1, "B": 4}


def test_target_sums_quantity_when_no_line_carries_quantity_shipped():
    assert shipped_targets([Line("A", 3), Line("A", 2), Line("B", 1)]) == {"A": 5, "B": 1}


def test_deltas_reverse_skus_missing_from_the_new_target():
    assert shipment_deltas({"A": 2}, {"A": 3, "B": 1}) == {"A": -1, "B": -1}
    assert list(shipment_deltas({"C": 1, "A": 1}, {})) == ["A", "C"]


def test_events_order_by_time_then_event_id():
    assert is_newer(EventKey(T0, "b"), EventKey(T0, "a"))
    assert not is_newer(EventKey(T0, "a"), EventKey(T0 + timedelta(seconds=1), "a"))
    assert is_newer(EventKey(T0, "a"), None)


def test_status_follows_the_contract_precedence():
    lines = [Line("A", 2), Line("B", 1)]
    assert (
        derive_status(lines, {"A": 2, "B": 1}, deleted_is_newest=True, allocated_units=0) == SHIPPED
    )
    assert (
        derive_status(lines, {"A": 1}, deleted_is_newest=True, allocated_units=0)
        == PARTIALLY_SHIPPED
    )
    assert derive_status(lines, {}, deleted_is_newest=True, allocated_units=3) == CANCELLED
    assert derive_status(lines, {}, deleted_is_newest=False, allocated_units=3) == RELEASED
    assert derive_status(lines, {"A": 0}, deleted_is_newest=False, allocated_units=0) == PENDING


def test_shipped_units_are_spread_over_a_skus_lines_in_order():
    lines = [Line("A", 2), Line("B", 1), Line("A", 1)]
    assert distribute(lines, {"A": 2, "B": 1}) == [2, 1, 0]
    assert distribute(lines, {"A": 9}) == [2, 0, 1]


def test_address_only_changes_are_not_line_changes():
    assert not lines_changed([Line("A", 1), Line("A", 1)], [Line("A", 2)])
    assert lines_changed([Line("A", 1)], [Line("A", 2)])


def test_starshipit_time_shapes_parse_to_utc_instants():
    assert parse_time("2026-06-10T12:03:42.1543701Z") == datetime(
        2026, 6, 10, 12, 3, 42, 154370, tzinfo=UTC
    )
    assert parse_time("2026-06-10T12:03:42") == datetime(2026, 6, 10, 12, 3, 42, tzinfo=UTC)
    assert parse_time("2026-06-11T00:03:42+12:00") == datetime(2026, 6, 10, 12, 3, 42, tzinfo=UTC)


@given(
    st.lists(
        st.dictionaries(st.sampled_from("ABC"), st.integers(0, 5), max_size=3),
        min_size=1,
        max_size=6,
    )
)
def test_applying_deltas_in_arrival_order_always_reaches_the_newest_target(targets):
    ledger: dict[str, int] = {}
    for target in targets:  # each later target is the newest
        for sku, delta in shipment_deltas(target, ledger).items():
            ledger[sku] = ledger.get(sku, 0) + delta
    assert {k: v for k, v in ledger.items() if v} == {k: v for k, v in targets[-1].items() if v}
