"""Operations API (CONTRACT §4): auth, pagination, orders, stock, movements, health."""

from __future__ import annotations

import pytest

from tests.conftest import make_test_app
from tests.helpers import AUTH, ledger, post_event, shipped_event


def receipt(client, sku="SKU-A", quantity=10, reference="PO-1", **extra):
    body = {"sku": sku, "quantity": quantity, "type": "receipt", "reference": reference} | extra
    return client.post("/api/movements", json=body, headers=AUTH)


def test_api_without_token_is_401(client):
    assert client.get("/api/orders").status_code == 401
    wrong = client.get("/api/orders", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json["error"] == "invalid bearer token"
    basic = client.get("/api/orders", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


def test_api_without_configured_tokens_is_503(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path, api_tokens=())
    response = app.test_client().get("/api/orders", headers=AUTH)
    assert response.status_code == 503
    assert response.json["error"] == "api token not configured"
    app.extensions["stockmirror"].db.dispose()


def test_health_endpoints_need_no_token(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"


def test_orders_list_filters_by_status_oldest_first_and_paginates(client):
    for n in range(5):
        body = shipped_event(f"c{n}", 100 + n, [("SKU-A", 1, None)], event_type="order_created")
        body["order"]["order_date"] = f"2026-11-0{9 - n}T00:00:00Z"
        post_event(client, body)
    post_event(client, shipped_event("s1", 100, [("SKU-A", 1, None)], "2026-11-21T00:00:00Z"))
    pending = client.get("/api/orders?status=PENDING&per_page=2&page=1", headers=AUTH).json
    assert pending["total"] == 4
    assert pending["per_page"] == 2
    assert [o["order_id"] for o in pending["items"]] == [104, 103]
    page2 = client.get("/api/orders?status=PENDING&per_page=2&page=2", headers=AUTH).json
    assert [o["order_id"] for o in page2["items"]] == [102, 101]
    both = client.get("/api/orders?status=PENDING,SHIPPED", headers=AUTH).json
    assert both["total"] == 5


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=LOST", "status"),
        ("allocation_status=MAYBE", "allocation_status"),
        ("per_page=501", "per_page"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("allocatable=perhaps", "allocatable"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(client, query, field):
    response = client.get(f"/api/orders?{query}", headers=AUTH)
    assert response.status_code == 422
    assert field in response.json["fields"]


def test_unknown_order_is_404(client):
    assert client.get("/api/orders/999", headers=AUTH).status_code == 404


def test_receipt_is_201_and_changes_stock(client):
    response = receipt(client, reason="supplier delivery")
    assert response.status_code == 201
    body = response.json
    assert (body["sku"], body["quantity"], body["type"], body["reference"]) == (
        "SKU-A",
        10,
        "receipt",
        "PO-1",
    )
    assert body["location"] == "DEFAULT"
    stock = client.get("/api/stock/SKU-A", headers=AUTH).json
    assert (stock["on_hand"], stock["allocated"], stock["available"]) == (10, 0, 10)
    assert stock["flags"] == []
    assert stock["locations"][0]["location"] == "DEFAULT"


def test_same_reference_again_returns_the_original_without_new_effect(client, engine):
    first = receipt(client)
    again = receipt(client)
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert ledger(engine) == {"SKU-A": 10}


def test_same_reference_with_different_content_is_409(client, engine):
    receipt(client)
    response = receipt(client, quantity=11)
    assert response.status_code == 409
    assert "PO-1" in response.json["error"]
    assert response.json["original"]["quantity"] == 10
    assert ledger(engine) == {"SKU-A": 10}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"sku": "A", "quantity": 0, "type": "adjustment", "reference": "r"}, "quantity"),
        ({"sku": "A", "quantity": -2, "type": "receipt", "reference": "r"}, "quantity"),
        ({"sku": "A", "quantity": 2, "type": "shipment", "reference": "r"}, "type"),
        ({"sku": "A", "quantity": 2, "type": "receipt"}, "reference"),
        ({"sku": "", "quantity": 2, "type": "receipt", "reference": "r"}, "sku"),
        ({"sku": "A", "quantity": "2", "type": "receipt", "reference": "r"}, "quantity"),
        (
            {"sku": "A", "quantity": 2, "type": "receipt", "reference": "r", "location": "NOPE"},
            "location",
        ),
    ],
)
def test_invalid_movement_is_422_naming_the_field_and_changes_nothing(client, engine, body, field):
    response = client.post("/api/movements", json=body, headers=AUTH)
    assert response.status_code == 422
    assert field in response.json["fields"]
    assert ledger(engine) == {}


def test_movement_body_must_be_json(client):
    response = client.post("/api/movements", data="sku=A", headers=AUTH)
    assert response.status_code == 415


def test_negative_adjustment_is_recorded_and_flagged_under_flag_policy(client):
    receipt(client, quantity=2)
    response = client.post(
        "/api/movements",
        json={
            "sku": "SKU-A",
            "quantity": -5,
            "type": "adjustment",
            "reference": "ADJ-1",
            "reason": "breakage",
        },
        headers=AUTH,
    )
    assert response.status_code == 201
    stock = client.get("/api/stock/SKU-A", headers=AUTH).json
    assert stock["on_hand"] == -3
    assert stock["flags"] == ["negative"]
    negative = client.get("/api/stock?flag=negative", headers=AUTH).json
    assert [s["sku"] for s in negative["items"]] == ["SKU-A"]


def test_block_policy_refuses_manual_movements_below_zero_but_records_shipments(
    database_url, tmp_path
):
    app = make_test_app(database_url, tmp_path, negative_stock="block")
    client = app.test_client()
    engine = app.extensions["stockmirror"].db.engine
    receipt(client, quantity=2)
    refused = client.post(
        "/api/movements",
        json={"sku": "SKU-A", "quantity": -3, "type": "adjustment", "reference": "ADJ-1"},
        headers=AUTH,
    )
    assert refused.status_code == 409
    assert "block" in refused.json["error"]
    assert ledger(engine) == {"SKU-A": 2}
    post_event(client, shipped_event("e1", 1, [("SKU-A", 5, None)]))
    assert ledger(engine) == {"SKU-A": -3}
    assert client.get("/api/stock/SKU-A", headers=AUTH).json["flags"] == ["negative"]
    app.extensions["stockmirror"].db.dispose()


def test_unknown_sku_is_404(client):
    response = client.get("/api/stock/NOPE", headers=AUTH)
    assert response.status_code == 404
    assert "NOPE" in response.json["error"]


def test_stock_list_filters_by_sku_and_flag(client):
    receipt(client, "SKU-A", 3, "r1")
    receipt(client, "SKU-B", 4, "r2")
    post_event(client, shipped_event("e1", 1, [("SKU-C", 1, None)]))
    listed = client.get("/api/stock?sku=SKU-A,SKU-C", headers=AUTH).json
    assert [(s["sku"], s["on_hand"]) for s in listed["items"]] == [("SKU-A", 3), ("SKU-C", -1)]
    assert client.get("/api/stock?flag=weird", headers=AUTH).status_code == 422


def test_movements_list_is_newest_first_signed_and_filterable(client):
    receipt(client, "SKU-A", 5, "r1")
    post_event(client, shipped_event("e1", 9, [("SKU-A", 2, None)]))
    items = client.get("/api/movements", headers=AUTH).json["items"]
    assert [(m["type"], m["quantity"]) for m in items] == [("shipment", -2), ("receipt", 5)]
    assert items[0]["order_id"] == 9
    assert items[0]["event_id"] == "e1"
    assert items[0]["actor"] == "starshipit"
    assert items[1]["actor"] == "api"
    by_type = client.get("/api/movements?type=receipt", headers=AUTH).json
    assert [m["reference"] for m in by_type["items"]] == ["r1"]
    by_order = client.get("/api/movements?order_id=9", headers=AUTH).json
    assert by_order["total"] == 1
    by_sku = client.get("/api/movements?sku=SKU-B", headers=AUTH).json
    assert by_sku["total"] == 0
    assert client.get("/api/movements?type=gift", headers=AUTH).status_code == 422


def test_events_list_filters_by_status(client):
    post_event(client, shipped_event("ok", 1, [("SKU-A", 1, None)]))
    post_event(client, shipped_event("bad", 2, [("SKU-A", 1, 2)]))
    parked = client.get("/api/events?status=parked", headers=AUTH).json
    assert [e["event_id"] for e in parked["items"]] == ["bad"]
    everything = client.get("/api/events", headers=AUTH).json
    assert everything["total"] == 2
    detail = client.get("/api/events/bad", headers=AUTH).json
    assert detail["payload"]["order"]["order_id"] == 2
    assert client.get("/api/events?status=lost", headers=AUTH).status_code == 422
