"""Exploding and require-stock bundles (issue 3 §7)."""

from __future__ import annotations

from tests.e2e.inventory_helpers import call, ok, product, receive, stock
from tests.helpers import ledger, post_event, shipped_event


def kit(client):
    product(
        client,
        "KIT",
        bundle="exploding",
        components=[{"sku": "CUP", "quantity": 2}, {"sku": "LID", "quantity": 1}],
    )
    receive(client, "GRN-1", [{"sku": "CUP", "quantity": 20}, {"sku": "LID", "quantity": 10}])


def test_an_exploding_bundle_ships_as_component_movements(client, engine):
    kit(client)

    post_event(client, shipped_event("e1", 1, [("KIT", 3, None)]))

    assert ledger(engine) == {"CUP": 14, "LID": 7}
    moves = ok(call(client, "GET", "/api/movements?order_id=1"))["items"]
    assert sorted((m["sku"], m["quantity"], m["bundle_sku"]) for m in moves) == [
        ("CUP", -6, "KIT"),
        ("LID", -3, "KIT"),
    ]
    order = ok(call(client, "GET", "/api/orders/1"))
    assert (order["status"], order["lines"][0]["quantity_shipped"]) == ("SHIPPED", 3)


def test_component_demand_is_summed_across_the_whole_order(client, engine):
    kit(client)

    post_event(
        client, shipped_event("e1", 1, [("KIT", 2, None), ("CUP", 1, None), ("KIT", 1, None)])
    )

    assert ledger(engine) == {"CUP": 13, "LID": 7}
    assert ok(call(client, "GET", "/api/orders/1"))["shipped"] == {"CUP": 1, "KIT": 3}


def test_a_redelivered_or_partly_voided_bundle_shipment_never_double_counts(client, engine):
    kit(client)
    post_event(client, shipped_event("e1", 1, [("KIT", 3, 2)], occurred_at="2026-11-20T05:00:00Z"))
    post_event(client, shipped_event("e1", 1, [("KIT", 3, 2)], occurred_at="2026-11-20T05:00:00Z"))
    post_event(client, shipped_event("e2", 1, [("KIT", 3, 3)], occurred_at="2026-11-20T06:00:00Z"))
    assert ledger(engine) == {"CUP": 14, "LID": 7}

    post_event(client, shipped_event("e3", 1, [("KIT", 3, 1)], occurred_at="2026-11-20T07:00:00Z"))

    assert ledger(engine) == {"CUP": 18, "LID": 9}
    order = ok(call(client, "GET", "/api/orders/1"))
    assert (order["status"], order["shipped"]) == ("PARTIALLY_SHIPPED", {"KIT": 1})


def test_a_require_stock_bundle_ships_from_its_own_stock(client, engine):
    product(
        client,
        "GIFT",
        bundle="require_stock",
        components=[{"sku": "CUP", "quantity": 2}],
    )
    receive(client, "GRN-1", [{"sku": "GIFT", "quantity": 4}, {"sku": "CUP", "quantity": 5}])

    post_event(client, shipped_event("e1", 1, [("GIFT", 3, None)]))

    assert ledger(engine) == {"GIFT": 1, "CUP": 5}
    assert stock(client, "GIFT")["on_hand"] == 1


def test_returning_an_exploding_bundle_restocks_its_components(client, engine):
    kit(client)
    post_event(client, shipped_event("e1", 1, [("KIT", 3, None)]))

    response = call(
        client,
        "POST",
        "/api/orders/1/returns",
        {"reference": "RMA-1", "lines": [{"sku": "KIT", "quantity": 1, "disposition": "restock"}]},
    )

    assert response.status_code == 201, response.get_json()
    assert ledger(engine) == {"CUP": 16, "LID": 8}
    too_many = call(
        client,
        "POST",
        "/api/orders/1/returns",
        {"reference": "RMA-2", "lines": [{"sku": "KIT", "quantity": 3, "disposition": "restock"}]},
    )
    assert too_many.status_code == 422
