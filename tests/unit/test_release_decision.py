"""What a release does, decided without a database (app/allocation/decisions.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from app.allocation.decisions import ReleaseState, ReleaseTerms, decide_release
from app.allocation.strategies import demand_of

NOW = datetime(2026, 12, 1, tzinfo=UTC)
COMPONENTS = {"KIT": [("A", 2), ("B", 1)]}


@dataclass
class FakeOrder:
    id: int
    order_id: int
    status: str = "PENDING"
    allocation_status: str = "UNALLOCATED"


@dataclass
class FakeLine:
    id: int
    line_no: int
    sku: str
    quantity: int
    quantity_allocated: int = 0
    item_id: int | None = None
    description: str | None = None


@dataclass
class FakeBalance:
    id: int
    sku: str
    location: str
    batch: str
    on_hand: int
    allocated: int = 0
    kind: str = "bulk"
    sequence: int = 0
    received_at: datetime | None = None
    expiry: date | None = None


@dataclass
class FakeLive:
    order_pk: int
    sku: str
    location: str
    batch: str
    remaining: int


def state_of(orders, lines, balances, live=()):
    open_units = {o.id: [(x.sku, x.quantity) for x in lines[o.id]] for o in orders}
    return ReleaseState(
        orders=orders,
        lines=lines,
        open_units=open_units,
        demands={pk: demand_of(units, COMPONENTS) for pk, units in open_units.items()},
        components=COMPONENTS,
        strategies={},
        live=list(live),
        balances=balances,
        ids={(b.sku, b.location, b.batch): b.id for b in balances},
    )


def terms(allow_partial=False, cause="release 7"):
    return ReleaseTerms(allow_partial, "fifo", "tester", 7, cause, NOW)


def test_an_order_covered_in_full_is_allocated_released_and_its_lines_say_so():
    orders = [FakeOrder(1, 101)]
    lines = {1: [FakeLine(11, 1, "A", 2), FakeLine(12, 2, "KIT", 1)]}
    balances = [FakeBalance(1, "A", "L1", "", 3), FakeBalance(2, "A", "L2", "", 5)]
    balances.append(FakeBalance(3, "B", "L1", "", 1))

    decision = decide_release(state_of(orders, lines, balances), terms())

    (order,) = decision.decided
    assert (order.status, order.allocation_status, order.released) == (
        "RELEASED",
        "ALLOCATED",
        True,
    )
    assert decision.deltas == {1: 3, 2: 1, 3: 1}
    assert decision.lines == [{"id": 11, "q": 2}, {"id": 12, "q": 1}]
    assert [e[1] for e in decision.timeline] == ["allocation", "status"]
    assert decision.timeline[1] == (1, "status", "PENDING → RELEASED")
    assert decision.orders == [
        {"id": 1, "status": "RELEASED", "allocation_status": "ALLOCATED", "at": NOW}
    ]


def test_a_short_order_gets_nothing_and_says_what_is_missing_unless_partial_is_allowed():
    orders = [FakeOrder(1, 101)]
    lines = {1: [FakeLine(11, 1, "A", 4)]}
    balances = [FakeBalance(1, "A", "L1", "", 3)]

    strict = decide_release(state_of(orders, lines, balances), terms())
    partial = decide_release(state_of(orders, lines, balances), terms(allow_partial=True))

    assert strict.allocations == [] and strict.deltas == {} and strict.lines == []
    assert strict.decided[0].allocation_status == "COULD_NOT_ALLOCATE"
    assert strict.decided[0].status == "PENDING"
    assert strict.timeline == [
        (1, "allocation", "release 7: could not allocate: A needs 4, 3 available")
    ]
    assert partial.decided[0].allocation_status == "PARTIALLY_ALLOCATED"
    assert partial.decided[0].partial and partial.deltas == {1: 3}


def test_a_re_plan_frees_what_the_order_held_before_taking_it_again():
    orders = [FakeOrder(1, 101, "RELEASED", "PARTIALLY_ALLOCATED")]
    lines = {1: [FakeLine(11, 1, "A", 4, quantity_allocated=3)]}
    balances = [FakeBalance(1, "A", "L1", "", 4, allocated=3)]
    live = [FakeLive(1, "A", "L1", "", 3)]

    decision = decide_release(state_of(orders, lines, balances, live), terms())

    assert decision.deltas == {1: 1}  # −3 freed, +4 allocated
    assert decision.timeline[0] == (1, "allocation", "allocations cancelled for release 7")
    assert decision.decided[0].allocation_status == "ALLOCATED"


def test_an_older_order_is_served_before_a_newer_one():
    orders = [FakeOrder(1, 101), FakeOrder(2, 102)]
    lines = {1: [FakeLine(11, 1, "A", 2)], 2: [FakeLine(21, 1, "A", 2)]}
    balances = [FakeBalance(1, "A", "L1", "", 3)]

    decision = decide_release(state_of(orders, lines, balances), terms())

    assert [d.allocation_status for d in decision.decided] == ["ALLOCATED", "COULD_NOT_ALLOCATE"]


line_lists = st.lists(
    st.tuples(st.sampled_from(["A", "B", "KIT"]), st.integers(min_value=0, max_value=4)),
    min_size=1,
    max_size=3,
)


@st.composite
def releases(draw):
    n = draw(st.integers(min_value=1, max_value=4))
    orders = [FakeOrder(pk, 100 + pk) for pk in range(1, n + 1)]
    lines = {
        o.id: [
            FakeLine(o.id * 10 + i, i, sku, qty)
            for i, (sku, qty) in enumerate(draw(line_lists), start=1)
        ]
        for o in orders
    }
    balances = []
    for sku in ("A", "B"):
        for loc in ("L1", "L2"):
            on_hand = draw(st.integers(min_value=0, max_value=6))
            allocated = draw(st.integers(min_value=0, max_value=on_hand))
            balances.append(FakeBalance(len(balances) + 1, sku, loc, "", on_hand, allocated))
    return orders, lines, balances


@given(releases(), st.booleans())
def test_a_release_never_allocates_more_than_a_balance_has_available(release, allow_partial):
    orders, lines, balances = release
    decision = decide_release(state_of(orders, lines, balances), terms(allow_partial))
    for b in balances:
        taken = sum(
            r["quantity"]
            for r in decision.allocations
            if (r["sku"], r["location"], r["batch"]) == (b.sku, b.location, b.batch)
        )
        assert taken == decision.deltas.get(b.id, 0)
        assert 0 <= taken <= b.on_hand - b.allocated


@given(releases(), st.booleans())
def test_an_order_is_allocated_only_when_every_open_unit_is_covered(release, allow_partial):
    orders, lines, balances = release
    state = state_of(orders, lines, balances)
    decision = decide_release(state, terms(allow_partial))
    for order, decided in zip(orders, decision.decided, strict=True):
        demanded = sum(d.quantity for d in state.demands[order.id])
        allocated = sum(r["quantity"] for r in decided.allocations)
        covered = [v["quantity_allocated"] for v in decided.lines]
        if decided.allocation_status == "ALLOCATED":
            assert allocated == demanded > 0
            assert covered == [x.quantity for x in lines[order.id]]
        else:
            assert allocated < demanded or demanded == 0
        if not allow_partial:
            assert allocated in (0, demanded)
        assert decided.partial == (0 < allocated < demanded)
        assert decided.status == ("RELEASED" if allocated else "PENDING")
