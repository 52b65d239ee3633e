"""Batch, serial and expiry tracking; strategies FIFO, FEFO, pick face first (issue 3 §6)."""

from __future__ import annotations

from tests.e2e.inventory_helpers import call, location, ok, product, receive, stock
from tests.helpers import post_event, shipped_event


def batches(view):
    return {loc["batch"]: loc["on_hand"] for loc in view["locations"] if loc["on_hand"]}


def test_fifo_ships_the_batch_received_first(client):
    product(client, "MILK", tracking="batch", strategy="fifo")
    receive(
        client, "GRN-1", [{"sku": "MILK", "quantity": 3, "batch": "OLD", "expiry": "2027-03-01"}]
    )
    receive(
        client, "GRN-2", [{"sku": "MILK", "quantity": 5, "batch": "NEW", "expiry": "2027-01-01"}]
    )

    post_event(client, shipped_event("e1", 1, [("MILK", 4, None)]))

    assert batches(stock(client, "MILK")) == {"NEW": 4}


def test_fefo_ships_the_batch_expiring_first(client):
    product(client, "MILK", tracking="batch", strategy="fefo")
    receive(
        client, "GRN-1", [{"sku": "MILK", "quantity": 3, "batch": "OLD", "expiry": "2027-03-01"}]
    )
    receive(
        client, "GRN-2", [{"sku": "MILK", "quantity": 5, "batch": "NEW", "expiry": "2027-01-01"}]
    )

    post_event(client, shipped_event("e1", 1, [("MILK", 6, None)]))

    assert batches(stock(client, "MILK")) == {"OLD": 2}
    moves = ok(call(client, "GET", "/api/movements?sku=MILK&type=shipment"))["items"]
    assert sorted((m["batch"], m["quantity"]) for m in moves) == [("NEW", -5), ("OLD", -1)]


def test_pick_face_first_takes_from_pick_faces_before_bulk(client):
    location(client, "BULK-1")
    location(client, "PF-2", "pick_face", sequence=2)
    location(client, "PF-1", "pick_face", sequence=1)
    product(client, "A", strategy="pick_face_first")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 10}], location="BULK-1")
    receive(client, "GRN-2", [{"sku": "A", "quantity": 2}], location="PF-2")
    receive(client, "GRN-3", [{"sku": "A", "quantity": 2}], location="PF-1")

    post_event(client, shipped_event("e1", 1, [("A", 5, None)]))

    view = stock(client, "A")
    assert {loc["location"]: loc["on_hand"] for loc in view["locations"]} == {
        "BULK-1": 9,
        "PF-1": 0,
        "PF-2": 0,
    }


def test_a_voided_label_puts_units_back_into_the_batches_they_left(client):
    product(client, "MILK", tracking="batch", strategy="fefo")
    receive(
        client, "GRN-1", [{"sku": "MILK", "quantity": 2, "batch": "B1", "expiry": "2027-01-01"}]
    )
    receive(
        client, "GRN-2", [{"sku": "MILK", "quantity": 5, "batch": "B2", "expiry": "2027-02-01"}]
    )
    post_event(client, shipped_event("e1", 1, [("MILK", 4, 4)], occurred_at="2026-11-20T05:00:00Z"))
    assert batches(stock(client, "MILK")) == {"B2": 3}

    post_event(client, shipped_event("e2", 1, [("MILK", 4, 1)], occurred_at="2026-11-20T06:00:00Z"))

    assert batches(stock(client, "MILK")) == {"B1": 1, "B2": 5}


def test_a_serial_can_not_be_on_hand_twice(client, engine):
    product(client, "CAM", tracking="serial")
    receive(client, "GRN-1", [{"sku": "CAM", "quantity": 2, "serials": ["S1", "S2"]}])

    again = call(
        client,
        "POST",
        "/api/receipts",
        {"reference": "GRN-2", "lines": [{"sku": "CAM", "quantity": 1, "serials": ["S2"]}]},
    )
    twice = call(
        client,
        "POST",
        "/api/receipts",
        {"reference": "GRN-3", "lines": [{"sku": "CAM", "quantity": 2, "serials": ["S3", "S3"]}]},
    )
    missing = call(
        client,
        "POST",
        "/api/receipts",
        {"reference": "GRN-4", "lines": [{"sku": "CAM", "quantity": 2, "serials": ["S4"]}]},
    )

    assert again.status_code == 409
    assert "S2" in again.get_json()["error"]
    assert twice.status_code == 422
    assert missing.status_code == 422
    assert "lines[0].serials" in missing.get_json()["fields"]
    assert batches(stock(client, "CAM")) == {"S1": 1, "S2": 1}


def test_a_shipped_serial_can_be_received_again(client):
    product(client, "CAM", tracking="serial")
    receive(client, "GRN-1", [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}])
    post_event(client, shipped_event("e1", 1, [("CAM", 1, None)]))
    receive(client, "GRN-2", [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}])
    assert batches(stock(client, "CAM")) == {"S1": 1}


def test_a_batch_tracked_receipt_needs_a_batch_and_keeps_its_expiry(client):
    product(client, "MILK", tracking="batch")
    response = call(
        client,
        "POST",
        "/api/receipts",
        {"reference": "G", "lines": [{"sku": "MILK", "quantity": 1}]},
    )
    assert response.status_code == 422
    assert "lines[0].batch" in response.get_json()["fields"]
    receive(
        client, "GRN-1", [{"sku": "MILK", "quantity": 1, "batch": "B1", "expiry": "2027-01-01"}]
    )
    clash = call(
        client,
        "POST",
        "/api/receipts",
        {
            "reference": "GRN-2",
            "lines": [{"sku": "MILK", "quantity": 1, "batch": "B1", "expiry": "2027-06-01"}],
        },
    )
    assert clash.status_code == 422
    assert batches(stock(client, "MILK")) == {"B1": 1}


def test_a_voided_label_never_puts_a_serial_on_hand_twice(client):
    product(client, "CAM", tracking="serial")
    receive(client, "GRN-1", [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}])
    post_event(client, shipped_event("e1", 1, [("CAM", 1, 1)], occurred_at="2026-11-20T05:00:00Z"))
    receive(client, "GRN-2", [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}])

    post_event(client, shipped_event("e2", 1, [("CAM", 1, 0)], occurred_at="2026-11-20T06:00:00Z"))

    view = stock(client, "CAM")
    assert view["on_hand"] == 2
    assert batches(view) == {"S1": 1, None: 1}
