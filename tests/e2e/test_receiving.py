"""Receiving against expected receipts (purchase orders) and without (issue 3 §3)."""

from __future__ import annotations

import pytest

from tests.e2e.inventory_helpers import call, ok, receive, stock
from tests.helpers import ledger


def expect(client, reference="PO-1", lines=None, **extra):
    lines = lines or [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 4}]
    body = {"reference": reference, "lines": lines, "expected_date": "2026-12-01", **extra}
    return ok(call(client, "POST", "/api/expected-receipts", body), 201)


def test_an_expected_receipt_feeds_incoming_and_partial_receiving_lowers_it(client):
    expect(client)
    assert stock(client, "A")["incoming"] == 10

    body = receive(client, "GRN-1", [{"sku": "A", "quantity": 6}], expected_receipt="PO-1")

    assert [(m["type"], m["sku"], m["quantity"]) for m in body["movements"]] == [
        ("receipt", "A", 6)
    ]
    view = stock(client, "A")
    assert (view["on_hand"], view["incoming"]) == (6, 4)
    po = ok(call(client, "GET", "/api/expected-receipts/PO-1"))
    assert po["status"] == "open"
    assert [(ln["sku"], ln["received"], ln["outstanding"]) for ln in po["lines"]] == [
        ("A", 6, 4),
        ("B", 0, 4),
    ]


def test_receiving_everything_closes_the_expected_receipt_and_incoming_drops_to_zero(client):
    expect(client)
    receive(client, "GRN-1", [{"sku": "A", "quantity": 10}], expected_receipt="PO-1")
    receive(client, "GRN-2", [{"sku": "B", "quantity": 4}], expected_receipt="PO-1")

    assert ok(call(client, "GET", "/api/expected-receipts/PO-1"))["status"] == "received"
    assert (stock(client, "A")["incoming"], stock(client, "B")["incoming"]) == (0, 0)
    assert ok(call(client, "GET", "/api/expected-receipts?status=open"))["total"] == 0
    late = call(
        client,
        "POST",
        "/api/receipts",
        {"reference": "GRN-3", "expected_receipt": "PO-1", "lines": [{"sku": "A", "quantity": 1}]},
    )
    assert late.status_code == 422


def test_a_cancelled_expected_receipt_is_no_longer_incoming(client):
    expect(client)
    ok(call(client, "POST", "/api/expected-receipts/PO-1/cancel"))
    assert stock(client, "A")["incoming"] == 0


def test_receiving_without_an_expected_receipt_posts_a_receipt_at_the_chosen_location(client):
    ok(call(client, "POST", "/api/locations", {"code": "BULK-1", "kind": "bulk"}), 201)
    receive(client, "GRN-1", [{"sku": "A", "quantity": 3}], location="BULK-1")
    view = stock(client, "A")
    assert [(loc["location"], loc["on_hand"]) for loc in view["locations"]] == [("BULK-1", 3)]


def test_the_same_receipt_reference_is_idempotent_and_different_content_conflicts(client, engine):
    lines = [{"sku": "A", "quantity": 3}]
    first = receive(client, "GRN-1", lines)
    again = ok(call(client, "POST", "/api/receipts", {"reference": "GRN-1", "lines": lines}))
    other = call(
        client,
        "POST",
        "/api/receipts",
        {"reference": "GRN-1", "lines": [{"sku": "A", "quantity": 4}]},
    )
    assert again["movements"] == first["movements"]
    assert other.status_code == 409
    assert ledger(engine) == {"A": 3}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"location": "NOWHERE"}, "location"),
        ({"expected_receipt": "PO-404"}, "expected_receipt"),
        ({"lines": [{"sku": "A", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "A", "quantity": "3"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "Z", "quantity": 1}], "expected_receipt": "PO-1"}, "lines"),
        ({"lines": []}, "lines"),
    ],
)
def test_a_bad_receipt_is_refused_naming_the_field_and_changes_nothing(client, engine, body, field):
    expect(client)
    request = {"reference": "GRN-X", "lines": [{"sku": "A", "quantity": 2}], **body}
    response = call(client, "POST", "/api/receipts", request)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["fields"], response.get_json()
    assert ledger(engine) == {}
    assert stock(client, "A")["incoming"] == 10


def test_an_expected_receipt_reference_is_unique(client):
    expect(client)
    again = call(
        client,
        "POST",
        "/api/expected-receipts",
        {"reference": "PO-1", "lines": [{"sku": "A", "quantity": 1}]},
    )
    assert again.status_code == 409


def test_incoming_shows_at_the_location_a_purchase_order_is_expected_at(client):
    ok(call(client, "POST", "/api/locations", {"code": "BULK-1", "kind": "bulk"}), 201)
    expect(client, location="BULK-1")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 4}], expected_receipt="PO-1")

    view = stock(client, "A")
    assert view["incoming"] == 6
    assert [(loc["location"], loc["on_hand"], loc["incoming"]) for loc in view["locations"]] == [
        ("BULK-1", 4, 6)
    ]
    b = stock(client, "B")
    assert [(loc["location"], loc["on_hand"], loc["incoming"]) for loc in b["locations"]] == [
        ("BULK-1", 0, 4)
    ]
