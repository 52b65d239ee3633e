"""The plain-Python fast path of load_order_event gives the schemas' answer or none."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app.webhooks.schemas import _plain_event, _schema_event, load_order_event
from tests.helpers import example, json_paths

EXAMPLE_NAMES = (
    "order_created",
    "order_changed",
    "order_deleted",
    "order_shipped_full",
    "order_shipped_partial",
)

BASE: dict[str, Any] = {
    "event_id": "evt-1",
    "event_type": "order_shipped",
    "occurred_at": "2026-11-20T05:10:00Z",
    "account_id": "acct",
    "order": {
        "order_id": 42,
        "order_number": "SO-42",
        "order_date": "2026-11-20T02:55:37.1446912Z",
        "reference": "R42",
        "status": "Printed",
        "platform": "Shopify",
        "carrier": "NZPost",
        "carrier_name": "NZ Post",
        "destination": {"name": "A. Tester", "city": "Auckland"},
        "packages": [{"package_id": 1, "tracking_number": "TN1"}],
        "items": [
            {
                "item_id": 7,
                "sku": "SKU-1",
                "description": "Widget",
                "quantity": 2,
                "quantity_shipped": 2,
                "weight": 0.4,
                "value": 19.95,
            },
            {"sku": "SKU-2", "quantity": 1},
        ],
    },
}

# Values that sit on and around every rule the schemas enforce.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, 1e30, 0.12345, -0.0]),
    st.text(max_size=3),
    st.sampled_from(["", " ", "x" * 50, "x" * 51, "x" * 100, "x" * 101, "x" * 200, "x" * 201]),
    st.sampled_from(["x" * 500, "x" * 501, "s\x00", "\ud800", "a\tb", "a\nb", "\x85", "\x7f"]),
    st.sampled_from([2**31 - 1, 2**31, -(2**31), 10**10, 10**10 - 0.0001, 1e-5]),
    st.dictionaries(st.sampled_from(["city", "\x00"]), st.sampled_from(["A", "A\nB", "\x00"])),
    st.sampled_from(["2026-11-20T05:10:00Z", "2026-11-20", "not a time", "19.95", "3"]),
    st.sampled_from(["order_created", "order_changed", "order_deleted", "order_shipped"]),
    st.lists(st.integers(), max_size=2),
    st.lists(st.none(), min_size=1, max_size=1),
    st.lists(st.builds(dict), min_size=1, max_size=1),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


BOUNDARY_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    10**400,
    0.5,
    float("nan"),
    float("inf"),
    1e30,
    "",
    " ",
    "x" * 50,
    "x" * 51,
    "x" * 100,
    "x" * 101,
    "x" * 200,
    "x" * 201,
    "x" * 500,
    "x" * 501,
    "\x00",
    "a\x00b",
    "\ud800",
    "a\tb",
    "line\nline",
    "\x1b",
    "\x9f",
    2**31 - 1,
    2**31,
    10**10,
    {"city": "A\x00"},
    {"street": "1 Queen St\nLevel 2"},
    "0001-01-01T00:00:00+01:00",
    "2026-11-20T05:10:00Z",
    "not a time",
    "19.95",
    "order_deleted",
    [],
    [None],
    [{}],
    {},
)


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A valid event (the base or a spec example) with a few places changed or removed."""
    names = st.sampled_from(EXAMPLE_NAMES)
    document = copy.deepcopy(draw(st.one_of(st.just(BASE), names.map(example))))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(json_paths(document)))
        *parents, last = path
        target = document
        for step in parents:
            target = target[step]
        if isinstance(target, dict) and draw(st.booleans()):
            del target[last]
        else:
            target[last] = draw(ODD_VALUES)
    return document


def _schema_answer(document: Any) -> Any:
    try:
        return _schema_event(document)
    except ValidationError:
        return "rejected"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events())
def test_fast_path_accepts_only_what_the_schemas_accept_and_loads_the_same(document: Any) -> None:
    fast = _plain_event(document)
    if fast is not None:
        assert _schema_answer(document) == fast


def _with(document: Any, path: tuple[Any, ...], value: Any, *, remove: bool = False) -> Any:
    changed = copy.deepcopy(document)
    *parents, last = path
    target = changed
    for step in parents:
        target = target[step]
    if remove:
        del target[last]
    else:
        target[last] = copy.deepcopy(value)
    return changed


@pytest.mark.parametrize("name", ("base", *EXAMPLE_NAMES))
def test_fast_path_agrees_with_the_schemas_at_every_boundary_of_every_field(name: str) -> None:
    document = BASE if name == "base" else example(name)
    for path in json_paths(document):
        variants = [_with(document, path, value) for value in BOUNDARY_VALUES]
        if isinstance(path[-1], str):
            variants.append(_with(document, path, None, remove=True))
        for variant in variants:
            fast = _plain_event(variant)
            if fast is not None:
                assert _schema_answer(variant) == fast, (path, variant)


@given(st.one_of(ODD_VALUES, st.lists(ODD_VALUES, max_size=2)))
def test_fast_path_leaves_anything_but_an_event_object_to_the_schemas(document: Any) -> None:
    assert _plain_event(document) is None


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_fast_path_loads_the_spec_examples_as_the_schemas_do(name: str) -> None:
    document = example(name)
    fast = _plain_event(document)
    assert fast is not None
    assert fast == _schema_event(document)


def test_fast_path_loads_a_full_shipped_event_as_the_schemas_do() -> None:
    fast = _plain_event(BASE)
    assert fast is not None
    assert fast == _schema_event(BASE)
    assert fast.line_details[0]["value"] == _schema_event(BASE).line_details[0]["value"]


def test_an_event_the_fast_path_refers_still_gets_the_schemas_error() -> None:
    document = copy.deepcopy(BASE)
    document["order"]["items"][0]["sku"] = "x" * 51
    assert _plain_event(document) is None
    with pytest.raises(ValidationError) as error:
        load_order_event(document)
    assert "order.items[0].sku" in error.value.messages


@pytest.mark.parametrize("sku", ["absent", None, ""])
def test_an_item_without_a_sku_loads_as_a_non_stock_line_on_both_paths(sku: Any) -> None:
    document = copy.deepcopy(BASE)
    item = document["order"]["items"][1]
    if sku == "absent":
        del item["sku"]
    else:
        item["sku"] = sku
    fast = _plain_event(document)
    assert fast is not None
    assert fast == _schema_event(document)
    assert [line.sku for line in fast.lines] == ["SKU-1", None]
    assert not fast.lines[1].stock
