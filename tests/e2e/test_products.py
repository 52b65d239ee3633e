"""Products API: tracking, strategy, bundle components (issue 3 §8)."""

from __future__ import annotations

import pytest

from tests.e2e.inventory_helpers import call, ok, product, receive
from tests.helpers import post_event, shipped_event


def test_a_product_is_created_read_and_updated(client):
    created = product(client, "MILK", name="Milk 1l", tracking="batch", strategy="fefo")
    assert (created["tracking"], created["strategy"], created["bundle"]) == (
        "batch",
        "fefo",
        "none",
    )

    updated = ok(call(client, "PATCH", "/api/products/MILK", {"strategy": "fifo"}))

    assert (updated["name"], updated["tracking"], updated["strategy"]) == (
        "Milk 1l",
        "batch",
        "fifo",
    )
    assert ok(call(client, "GET", "/api/products/MILK")) == updated
    listed = ok(call(client, "GET", "/api/products?sku=MILK"))["items"]
    assert listed == [updated]


def test_a_sku_first_seen_on_an_order_can_be_configured_with_post(client):
    post_event(client, shipped_event("e1", 1, [("A", 1, None)]))
    response = call(client, "POST", "/api/products", {"sku": "A", "name": "Apple"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Apple"


def test_bundle_components_are_set_and_replaced(client):
    product(client, "KIT", bundle="exploding", components=[{"sku": "CUP", "quantity": 2}])
    body = ok(
        call(
            client,
            "PATCH",
            "/api/products/KIT",
            {"components": [{"sku": "LID", "quantity": 1}, {"sku": "CUP", "quantity": 3}]},
        )
    )
    assert body["components"] == [{"sku": "CUP", "quantity": 3}, {"sku": "LID", "quantity": 1}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tracking": "lot"}, "tracking"),
        ({"strategy": "lifo"}, "strategy"),
        ({"bundle": "exploding"}, "components"),
        ({"bundle": "exploding", "components": [{"sku": "KIT", "quantity": 1}]}, "components"),
        (
            {"bundle": "exploding", "components": [{"sku": "X", "quantity": 0}]},
            "components[0].quantity",
        ),
        ({"bundle": "exploding", "components": [{"sku": "NESTED", "quantity": 1}]}, "components"),
    ],
)
def test_a_bad_product_is_refused_naming_the_field(client, body, field):
    product(client, "NESTED", bundle="exploding", components=[{"sku": "C", "quantity": 1}])
    response = call(client, "POST", "/api/products", {"sku": "KIT", **body})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["fields"], response.get_json()
    assert call(client, "GET", "/api/products/KIT").status_code == 404


def test_tracking_can_not_change_while_stock_is_on_hand(client):
    receive(client, "GRN-1", [{"sku": "A", "quantity": 2}])
    response = call(client, "PATCH", "/api/products/A", {"tracking": "serial"})
    assert response.status_code == 409
    assert ok(call(client, "GET", "/api/products/A"))["tracking"] == "none"


def test_updating_an_unknown_product_is_404(client):
    assert call(client, "PATCH", "/api/products/NOPE", {"name": "x"}).status_code == 404
