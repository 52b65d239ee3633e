"""Returns against an order: restock or damaged, never more than shipped (issue 3 §5)."""

from __future__ import annotations

from tests.e2e.inventory_helpers import at, call, location, ok, product, receive, stock
from tests.helpers import ledger, post_event, shipped_event


def ship(client, order_id=1, sku="A", qty=5):
    receive(client, f"GRN-{order_id}", [{"sku": sku, "quantity": 10}])
    assert (
        post_event(client, shipped_event(f"e{order_id}", order_id, [(sku, qty, None)])).status_code
        == 200
    )


def ret(client, order_id, lines, reference="RMA-1"):
    return call(
        client, "POST", f"/api/orders/{order_id}/returns", {"reference": reference, "lines": lines}
    )


def test_restocked_units_go_back_to_the_chosen_location_and_damaged_ones_are_not_available(
    client, engine
):
    location(client, "BULK-1")
    ship(client)

    body = ok(
        ret(
            client,
            1,
            [
                {"sku": "A", "quantity": 2, "disposition": "restock", "location": "BULK-1"},
                {"sku": "A", "quantity": 1, "disposition": "damaged"},
            ],
        ),
        201,
    )

    assert [(m["type"], m["location"], m["quantity"]) for m in body["movements"]] == [
        ("return", "BULK-1", 2),
        ("return_damaged", "DAMAGED", 1),
    ]
    view = stock(client, "A")
    assert (view["on_hand"], view["non_sellable"], view["available"]) == (8, 1, 8)
    assert view["available_to_sell"] == 7
    assert at(view, "BULK-1") == 2
    assert ledger(engine) == {"A": 8}
    order = ok(call(client, "GET", "/api/orders/1"))
    returns = [t["detail"] for t in order["timeline"] if t["kind"] == "return"]
    assert returns == ["return RMA-1: A ×2 restock → BULK-1, A ×1 damaged → DAMAGED"]
    assert order["status"] == "SHIPPED"


def test_a_return_above_what_was_shipped_is_refused_and_changes_nothing(client, engine):
    ship(client, qty=3)
    ok(ret(client, 1, [{"sku": "A", "quantity": 2, "disposition": "restock"}]), 201)

    response = ret(client, 1, [{"sku": "A", "quantity": 2, "disposition": "restock"}], "RMA-2")

    assert response.status_code == 422
    assert "lines[0].quantity" in response.get_json()["fields"]
    assert "already returned 2" in response.get_json()["error"]
    assert ledger(engine) == {"A": 9}
    never_shipped = ret(client, 1, [{"sku": "B", "quantity": 1, "disposition": "restock"}], "RMA-3")
    assert never_shipped.status_code == 422


def test_the_same_return_reference_is_idempotent(client, engine):
    ship(client)
    lines = [{"sku": "A", "quantity": 1, "disposition": "restock"}]
    first = ok(ret(client, 1, lines), 201)
    again = ok(ret(client, 1, lines), 200)
    assert again["movements"] == first["movements"]
    assert ledger(engine) == {"A": 6}


def test_returns_of_an_unknown_order_or_to_an_unsellable_place_are_refused(client, engine):
    ship(client)
    location(client, "QUARANTINE", "non_sellable")
    assert (
        ret(client, 99, [{"sku": "A", "quantity": 1, "disposition": "restock"}]).status_code == 404
    )
    wrong = ret(
        client, 1, [{"sku": "A", "quantity": 1, "disposition": "restock", "location": "QUARANTINE"}]
    )
    assert wrong.status_code == 422
    assert "lines[0].location" in wrong.get_json()["fields"]
    unknown = ret(
        client, 1, [{"sku": "A", "quantity": 1, "disposition": "restock", "location": "X"}]
    )
    assert unknown.status_code == 422
    assert ledger(engine) == {"A": 5}


def test_a_return_never_brings_back_more_units_than_asked_when_shipment_records_run_short(
    client, engine
):
    # A ships as a plain product, then becomes an exploding bundle of one CUP: the
    # order's shipment records hold no CUP taken for A, so every returned A comes back
    # as an unrecorded CUP (no batch), one per A asked, never more.
    ship(client, sku="A", qty=3)
    bundle = {"sku": "A", "bundle": "exploding", "components": [{"sku": "CUP", "quantity": 1}]}
    ok(call(client, "POST", "/api/products", bundle), 200)

    one_request = ok(
        ret(
            client,
            1,
            [
                {"sku": "A", "quantity": 1, "disposition": "restock"},
                {"sku": "A", "quantity": 1, "disposition": "damaged"},
            ],
        ),
        201,
    )
    later = ok(
        ret(client, 1, [{"sku": "A", "quantity": 1, "disposition": "restock"}], "RMA-2"), 201
    )

    assert [
        (m["sku"], m["type"], m["location"], m["quantity"]) for m in one_request["movements"]
    ] == [
        ("CUP", "return", "DEFAULT", 1),
        ("CUP", "return_damaged", "DAMAGED", 1),
    ]
    assert [(m["sku"], m["quantity"]) for m in later["movements"]] == [("CUP", 1)]
    assert ledger(engine)["CUP"] == 3
    too_many = ret(client, 1, [{"sku": "A", "quantity": 1, "disposition": "restock"}], "RMA-3")
    assert too_many.status_code == 422
    assert ledger(engine)["CUP"] == 3


def test_a_bundle_made_plain_after_shipping_comes_back_one_unit_per_unit_asked(client, engine):
    kit = {"sku": "KIT", "bundle": "exploding", "components": [{"sku": "CUP", "quantity": 1}]}
    ok(call(client, "POST", "/api/products", kit), 201)
    receive(client, "GRN-1", [{"sku": "CUP", "quantity": 10}])
    assert post_event(client, shipped_event("e1", 1, [("KIT", 2, None)])).status_code == 200
    ok(call(client, "POST", "/api/products", {"sku": "KIT", "bundle": "none"}), 200)

    first = ok(ret(client, 1, [{"sku": "KIT", "quantity": 1, "disposition": "restock"}]), 201)
    second = ok(
        ret(client, 1, [{"sku": "KIT", "quantity": 1, "disposition": "restock"}], "RMA-2"), 201
    )

    assert [(m["sku"], m["quantity"]) for m in first["movements"] + second["movements"]] == [
        ("KIT", 1),
        ("KIT", 1),
    ]
    assert ledger(engine)["KIT"] == 2


def test_a_return_moves_only_the_units_asked_when_earlier_returns_outran_the_shipped_places(
    client, engine
):
    # KIT shipped as an exploding bundle (3 CUP movements tagged KIT), then turned into
    # a require_stock bundle: its returns come back as KIT itself, which no shipment of
    # the order took, so the order has no shipped places for (KIT, no bundle).
    product(client, "KIT", bundle="exploding", components=[{"sku": "CUP", "quantity": 1}])
    receive(client, "GRN-1", [{"sku": "CUP", "quantity": 10}])
    assert post_event(client, shipped_event("e1", 1, [("KIT", 3, None)])).status_code == 200
    ok(call(client, "PATCH", "/api/products/KIT", {"bundle": "require_stock"}))
    ok(ret(client, 1, [{"sku": "KIT", "quantity": 2, "disposition": "restock"}]), 201)

    body = ok(
        ret(client, 1, [{"sku": "KIT", "quantity": 1, "disposition": "restock"}], "RMA-2"), 201
    )

    assert [(m["sku"], m["quantity"]) for m in body["movements"]] == [("KIT", 1)]
    assert ledger(engine) == {"CUP": 7, "KIT": 3}
    refused = ret(client, 1, [{"sku": "KIT", "quantity": 1, "disposition": "restock"}], "RMA-3")
    assert refused.status_code == 422
