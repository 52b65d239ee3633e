"""Pick lists for an order and for a release batch, sorted by location (issue 5 point 7)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.allocation_helpers import (
    add_location,
    create_order,
    receive,
    receive_batch,
    release,
    set_product,
)
from tests.helpers import AUTH


@pytest.fixture
def app_overrides():
    return {"allocation": "manual"}


def test_order_picklist_is_sorted_by_location_sequence_with_batch_and_serial(app, client, engine):
    add_location(engine, "Z-01", "pick_face", 1)
    add_location(engine, "A-09", "pick_face", 9)
    receive(client, "BOLT", 5, location="A-09")
    receive(client, "NUT", 5, location="Z-01")
    receive_batch(app, "PHONE", "SN-0001", 1, location="A-09", received_at=datetime(2026, 1, 1))
    receive_batch(app, "PHONE", "SN-0002", 1, location="A-09", received_at=datetime(2026, 1, 2))
    set_product(engine, "PHONE", tracking="serial")
    create_order(client, 1, [("BOLT", 1), ("NUT", 2), ("PHONE", 2)])
    release(client, 1)

    body = client.get("/api/orders/1/picklist", headers=AUTH).json

    assert [
        (x["location"], x["sku"], x["batch"], x["serial"], x["quantity"]) for x in body["lines"]
    ] == [
        ("Z-01", "NUT", None, None, 2),
        ("A-09", "BOLT", None, None, 1),
        ("A-09", "PHONE", "SN-0001", "SN-0001", 1),
        ("A-09", "PHONE", "SN-0002", "SN-0002", 1),
    ]
    assert body["lines"][0]["orders"] == [
        {"order_id": 1, "order_number": "N-1", "line_sku": "NUT", "quantity": 2}
    ]


def test_unreleased_order_has_an_empty_picklist_and_unknown_order_is_404(client):
    create_order(client, 1, [("BOLT", 1)])
    assert client.get("/api/orders/1/picklist", headers=AUTH).json["lines"] == []
    assert client.get("/api/orders/2/picklist", headers=AUTH).status_code == 404


def test_release_batch_picklist_merges_orders_per_location_and_sku(client, engine):
    add_location(engine, "B-02", "pick_face", 2)
    add_location(engine, "A-01", "pick_face", 1)
    receive(client, "BOLT", 10, location="B-02")
    receive(client, "NUT", 10, location="A-01")
    create_order(client, 1, [("BOLT", 1), ("NUT", 1)], order_date="2026-11-20T01:00:00Z")
    create_order(client, 2, [("BOLT", 3)], order_date="2026-11-20T02:00:00Z")
    create_order(client, 3, [("NUT", 1)])  # not in the batch
    release_id = client.post("/api/releases", json={"order_ids": [1, 2]}, headers=AUTH).json[
        "release_id"
    ]
    release(client, 3)

    body = client.get(f"/api/releases/{release_id}/picklist", headers=AUTH).json

    assert body["orders_released"] == 2
    assert [(x["location"], x["sku"], x["quantity"]) for x in body["lines"]] == [
        ("A-01", "NUT", 1),
        ("B-02", "BOLT", 4),
    ]
    assert [(o["order_id"], o["quantity"]) for o in body["lines"][1]["orders"]] == [(1, 1), (2, 3)]
    assert client.get("/api/releases/999/picklist", headers=AUTH).status_code == 404
