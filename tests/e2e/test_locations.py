"""Locations, transfers between them and replenishment of pick faces (issue 3 §1)."""

from __future__ import annotations

import pytest

from tests.e2e.inventory_helpers import at, call, location, ok, receive, stock
from tests.helpers import ledger


def test_a_transfer_is_a_pair_of_movements_and_moves_stock_between_locations(client, engine):
    location(client, "BULK-1")
    location(client, "PF-1", "pick_face")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 10}], location="BULK-1")

    body = ok(
        call(
            client,
            "POST",
            "/api/transfers",
            {"sku": "A", "quantity": 4, "from": "BULK-1", "to": "PF-1", "reference": "T-1"},
        ),
        201,
    )

    assert [(m["type"], m["location"], m["quantity"]) for m in body["movements"]] == [
        ("transfer_out", "BULK-1", -4),
        ("transfer_in", "PF-1", 4),
    ]
    view = stock(client, "A")
    assert (view["on_hand"], at(view, "BULK-1"), at(view, "PF-1")) == (10, 6, 4)
    assert ledger(engine) == {"A": 10}


def test_the_same_transfer_reference_again_changes_nothing_and_other_content_conflicts(client):
    location(client, "BULK-1")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 10}])
    body = {"sku": "A", "quantity": 3, "from": "DEFAULT", "to": "BULK-1", "reference": "T-1"}
    first = ok(call(client, "POST", "/api/transfers", body), 201)
    again = ok(call(client, "POST", "/api/transfers", body), 200)
    conflict = call(client, "POST", "/api/transfers", {**body, "quantity": 4})

    assert again["movements"] == first["movements"]
    assert conflict.status_code == 409
    assert at(stock(client, "A"), "BULK-1") == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "NOWHERE"}, "to"),
        ({"from": "NOWHERE"}, "from"),
        ({"quantity": 0}, "quantity"),
        ({"to": "DEFAULT"}, "to"),
    ],
)
def test_a_bad_transfer_is_refused_naming_the_field_and_changes_nothing(
    client, engine, change, field
):
    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}])
    body = {"sku": "A", "quantity": 2, "from": "DEFAULT", "to": "BULK-9", "reference": "T-1"}
    location(client, "BULK-9")
    response = call(client, "POST", "/api/transfers", {**body, **change})

    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert ledger(engine) == {"A": 5}
    assert at(stock(client, "A"), "DEFAULT") == 5


def test_a_duplicate_or_badly_typed_location_is_refused(client):
    location(client, "BULK-1")
    assert (
        call(client, "POST", "/api/locations", {"code": "BULK-1", "kind": "bulk"}).status_code
        == 409
    )
    bad = call(client, "POST", "/api/locations", {"code": "X", "kind": "shelf"})
    assert bad.status_code == 422
    assert "kind" in bad.get_json()["fields"]
    codes = [loc["code"] for loc in ok(call(client, "GET", "/api/locations"))["items"]]
    assert codes == ["BULK-1", "DEFAULT"]


def test_replenishment_suggests_pulling_from_the_fullest_bulk_location(client):
    location(client, "PF-1", "pick_face")
    location(client, "BULK-1")
    location(client, "BULK-2")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 2}], location="PF-1")
    receive(client, "GRN-2", [{"sku": "A", "quantity": 5}], location="BULK-1")
    receive(client, "GRN-3", [{"sku": "A", "quantity": 9}], location="BULK-2")
    receive(client, "GRN-4", [{"sku": "B", "quantity": 8}], location="PF-1")
    ok(call(client, "PUT", "/api/locations/PF-1/levels/A", {"min_level": 6}))
    ok(call(client, "PUT", "/api/locations/PF-1/levels/B", {"min_level": 6}))

    items = ok(call(client, "GET", "/api/replenishment"))["items"]

    assert items == [
        {
            "sku": "A",
            "pick_face": "PF-1",
            "min_level": 6,
            "on_hand": 2,
            "short_by": 4,
            "from_location": "BULK-2",
            "from_available": 9,
        }
    ]


def test_a_minimum_level_needs_a_pick_face(client):
    location(client, "BULK-1")
    response = call(client, "PUT", "/api/locations/BULK-1/levels/A", {"min_level": 3})
    assert response.status_code == 422
    assert "location" in response.get_json()["fields"]


@pytest.fixture
def app_overrides():
    return {}
