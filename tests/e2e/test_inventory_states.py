"""Inventory states per SKU and location, and the negative-stock policy (issue 3 §2, §10)."""

from __future__ import annotations

import pytest

from tests.e2e.inventory_helpers import call, location, ok, receive, stock
from tests.helpers import post_event, shipped_event


def test_stock_shows_on_hand_allocated_available_and_incoming_per_sku_and_location(client):
    location(client, "BULK-1")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 7}], location="BULK-1")
    receive(client, "GRN-2", [{"sku": "A", "quantity": 3}])
    ok(
        call(
            client,
            "POST",
            "/api/expected-receipts",
            {"reference": "PO-1", "lines": [{"sku": "A", "quantity": 20}]},
        ),
        201,
    )

    view = stock(client, "A")

    assert (view["on_hand"], view["allocated"], view["available"], view["incoming"]) == (
        10,
        0,
        10,
        20,
    )
    assert [(loc["location"], loc["on_hand"], loc["available"]) for loc in view["locations"]] == [
        ("BULK-1", 7, 7),
        ("DEFAULT", 3, 3),
    ]


def test_the_negative_flag_is_set_by_a_shipment_and_cleared_when_stock_recovers(client):
    post_event(client, shipped_event("e1", 1, [("A", 3, None)]))
    assert stock(client, "A")["flags"] == ["negative"]
    negative = ok(call(client, "GET", "/api/stock?flag=negative"))["items"]
    assert [v["sku"] for v in negative] == ["A"]

    receive(client, "GRN-1", [{"sku": "A", "quantity": 5}])

    assert stock(client, "A")["flags"] == []
    assert ok(call(client, "GET", "/api/stock?flag=negative"))["items"] == []


class TestBlockPolicy:
    @pytest.fixture
    def app_overrides(self):
        return {"negative_stock": "block"}

    def test_a_transfer_that_would_go_negative_is_refused_and_changes_nothing(self, client):
        location(client, "BULK-1")
        receive(client, "GRN-1", [{"sku": "A", "quantity": 2}])
        body = {"sku": "A", "quantity": 3, "from": "DEFAULT", "to": "BULK-1", "reference": "T"}

        response = call(client, "POST", "/api/transfers", body)

        assert response.status_code == 409
        assert response.get_json()["on_hand"] == -1
        view = stock(client, "A")
        assert [(loc["location"], loc["on_hand"]) for loc in view["locations"]] == [("DEFAULT", 2)]

    def test_shipments_are_still_recorded_and_flagged(self, client):
        post_event(client, shipped_event("e1", 1, [("A", 3, None)]))
        view = stock(client, "A")
        assert (view["on_hand"], view["flags"]) == (-3, ["negative"])
