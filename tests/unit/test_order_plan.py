"""plan_event decides what an order event does from the loaded keys alone (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.orders.domain import (
    APPLIED,
    IGNORED,
    STALE,
    EventKey,
    Line,
    OrderState,
    OrderStatus,
    derive_status,
    plan_event,
    shipped_targets,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TYPES = ("order_created", "order_changed", "order_shipped", "order_deleted")


def key(minute: int, event_id: str = "e") -> EventKey:
    return EventKey(T0 + timedelta(minutes=minute), event_id)


events = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.integers(0, 6),  # few distinct times: ties and replays are common
        st.sampled_from(("a", "b", "c")),
        st.lists(st.tuples(st.sampled_from(("A", "B")), st.integers(0, 3)), max_size=3),
    ),
    max_size=12,
)


def fold(stream: list) -> tuple[OrderState, list[str], OrderStatus]:
    """Apply a stream by the plans alone (what the writer does with keys, lines and the
    shipped units), returning the final keys, the outcomes and the final status."""
    state, lines, shipped, outcomes = OrderState(), [], {}, []
    status = OrderStatus.PENDING
    for event_type, minute, event_id, raw in stream:
        event_lines = [Line(sku, qty) for sku, qty in raw]
        plan = plan_event(state, event_type, key(minute, f"{event_type}-{event_id}"))
        outcomes.append(plan.outcome)
        if plan.ship:
            shipped = {s: q for s, q in shipped_targets(event_lines).items() if q}
        if plan.take_content:
            lines = event_lines
        state = plan.after
        status = derive_status(
            lines, shipped, deleted_is_newest=plan.deleted_is_newest, allocated_units=0
        )
        assert status in OrderStatus
    return state, outcomes, status


def test_a_first_created_event_is_applied_and_takes_the_content() -> None:
    plan = plan_event(OrderState(), "order_created", key(1))
    assert (plan.outcome, plan.take_content, plan.ship, plan.log_lines) == (
        APPLIED,
        True,
        False,
        True,
    )


def test_an_event_older_than_the_content_is_stale_against_the_newer_event() -> None:
    plan = plan_event(OrderState(content=key(5, "x")), "order_changed", key(1))
    assert (plan.outcome, plan.stale_against, plan.take_content) == (STALE, key(5, "x"), False)


def test_a_shipment_older_than_the_content_still_ships_but_keeps_the_lines() -> None:
    plan = plan_event(OrderState(content=key(5, "x")), "order_shipped", key(1))
    assert (plan.outcome, plan.ship, plan.take_content, plan.log_lines) == (
        APPLIED,
        True,
        False,
        True,
    )


def test_a_change_older_than_the_deletion_is_stale_and_the_order_stays_cancelled() -> None:
    state = OrderState(content=key(1), deleted=key(3))
    plan = plan_event(state, "order_changed", key(2, "late"))
    assert plan.outcome == STALE and plan.deleted_is_newest


def test_a_second_newer_deletion_is_ignored_but_recorded() -> None:
    state = OrderState(content=key(1), deleted=key(3))
    plan = plan_event(state, "order_deleted", key(4))
    assert (plan.outcome, plan.record_deleted, plan.after.deleted) == (IGNORED, True, key(4))


def test_a_deletion_older_than_the_content_is_recorded_but_stale() -> None:
    plan = plan_event(OrderState(content=key(5)), "order_deleted", key(4, "d"))
    assert (plan.outcome, plan.record_deleted, plan.cancel) == (STALE, True, False)
    assert not plan.deleted_is_newest


@given(events)
def test_any_order_of_created_changed_shipped_deleted_events_yields_a_legal_status(stream):
    fold(stream)


@given(events)
def test_replaying_any_event_again_applies_nothing(stream):
    state, _, status = fold(stream)
    for event_type, minute, event_id, _raw in stream:
        plan = plan_event(state, event_type, key(minute, f"{event_type}-{event_id}"))
        assert plan.outcome in (STALE, IGNORED)
        assert not (plan.ship or plan.take_content) and plan.after == state


@given(events, st.randoms())
def test_the_newest_shipment_and_deletion_win_in_any_order(stream, random):
    shuffled = list(stream)
    random.shuffle(shuffled)
    state, _, _ = fold(shuffled)

    def newest(kind: str) -> EventKey | None:
        keys = [key(m, f"{t}-{e}") for t, m, e, _ in stream if t == kind]
        return max(keys, default=None)

    assert state.shipped == newest("order_shipped")
    assert state.deleted == newest("order_deleted")
    assert fold(stream)[0].shipped == state.shipped


@given(events, st.randoms())
def test_whether_the_order_is_cancelled_does_not_depend_on_the_order_of_events(stream, random):
    shuffled = list(stream)
    random.shuffle(shuffled)
    no_ships = [e for e in stream if e[0] != "order_shipped"]
    shuffled = [e for e in shuffled if e[0] != "order_shipped"]
    assert (fold(no_ships)[2] == OrderStatus.CANCELLED) == (
        fold(shuffled)[2] == OrderStatus.CANCELLED
    )
