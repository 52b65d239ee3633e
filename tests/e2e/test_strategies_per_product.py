"""Strategies end to end: per product with a global default, batches, locations,
bundles; the chosen strategy and plan are recorded on the allocation (issue 5 point 2)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.allocation_helpers import (
    add_components,
    add_location,
    assert_allocations_consistent,
    balances,
    create_order,
    order,
    order_event,
    receive,
    receive_batch,
    release,
    set_product,
)
from tests.helpers import post_event


@pytest.fixture
def app_overrides():
    return {"allocation": "manual", "allocation_strategy": "pick_face_first"}


@pytest.fixture(autouse=True)
def _consistent(app, engine):
    yield
    assert_allocations_consistent(engine)


def test_product_strategy_fefo_reserves_the_batch_expiring_first(app, client, engine):
    receive_batch(
        app, "MILK", "L-LATE", 5, expiry=date(2027, 3, 1), received_at=datetime(2026, 1, 1)
    )
    receive_batch(
        app, "MILK", "L-SOON", 5, expiry=date(2026, 12, 1), received_at=datetime(2026, 2, 1)
    )
    set_product(engine, "MILK", strategy="fefo")
    create_order(client, 1, [("MILK", 6)])

    body = release(client, 1).json

    assert [(a["batch"], a["quantity"]) for a in body["lines"][0]["allocations"]] == [
        ("L-SOON", 5),
        ("L-LATE", 1),
    ]
    assert {a["strategy"] for a in body["allocations"]} == {"fefo"}
    assert body["allocations"][0]["plan"]["picks"] == [
        ["DEFAULT", "L-SOON", 5],
        ["DEFAULT", "L-LATE", 1],
    ]


def test_product_strategy_fifo_reserves_the_oldest_receipt(app, client, engine):
    receive_batch(app, "BOLT", "NEW", 5, received_at=datetime(2026, 3, 1))
    receive_batch(app, "BOLT", "OLD", 5, received_at=datetime(2026, 1, 1))
    set_product(engine, "BOLT", strategy="fifo")
    create_order(client, 1, [("BOLT", 2)])

    body = release(client, 1).json

    assert [(a["batch"], a["quantity"]) for a in body["lines"][0]["allocations"]] == [("OLD", 2)]


def test_global_default_pick_face_first_then_bulk_suggests_replenishment(client, engine):
    add_location(engine, "BULK-9", "bulk", 9)
    add_location(engine, "PF-1", "pick_face", 1)
    add_location(engine, "QUARANTINE", "non_sellable", 0)
    receive(client, "SKU-A", 50, location="BULK-9")
    receive(client, "SKU-A", 2, location="PF-1")
    receive(client, "SKU-A", 99, location="QUARANTINE")
    create_order(client, 1, [("SKU-A", 5)])

    body = release(client, 1).json

    assert [(a["location"], a["quantity"]) for a in body["lines"][0]["allocations"]] == [
        ("PF-1", 2),
        ("BULK-9", 3),
    ]
    plan = body["allocations"][0]["plan"]
    assert plan["strategy"] == "pick_face_first"
    assert plan["replenish"] == [{"from": "BULK-9", "to": "PF-1", "quantity": 3}]
    timeline = order(client, 1)["timeline"]
    assert any("replenish SKU-A ×3 from BULK-9 to PF-1" in t["detail"] for t in timeline)
    assert balances(engine, "SKU-A")[("QUARANTINE", "")] == (99, 0)


def test_non_sellable_stock_does_not_count_as_available(client, engine):
    add_location(engine, "QUARANTINE", "non_sellable", 0)
    receive(client, "SKU-A", 99, location="QUARANTINE")
    create_order(client, 1, [("SKU-A", 1)])

    response = release(client, 1)

    assert response.status_code == 409
    assert response.json["shortages"] == [{"sku": "SKU-A", "needed": 1, "available": 0}]


def test_exploding_bundle_reserves_components_summed_across_the_order(client, engine):
    add_components(engine, "KIT", [("A", 2), ("B", 1)])
    receive(client, "A", 5)
    receive(client, "B", 5)
    create_order(client, 1, [("KIT", 2), ("A", 1)])

    body = release(client, 1).json

    assert body["allocation_status"] == "ALLOCATED"
    assert [line["quantity_allocated"] for line in body["lines"]] == [2, 1]
    assert balances(engine, "A") == {("DEFAULT", ""): (5, 5)}
    assert balances(engine, "B") == {("DEFAULT", ""): (5, 2)}


def test_exploding_bundle_short_of_one_component_is_short_as_a_whole(client, engine):
    add_components(engine, "KIT", [("A", 2), ("B", 1)])
    receive(client, "A", 3)
    receive(client, "B", 5)
    create_order(client, 1, [("KIT", 2)])

    response = release(client, 1)

    assert response.status_code == 409
    assert response.json["shortages"] == [{"sku": "A", "needed": 4, "available": 3}]
    assert balances(engine, "B") == {("DEFAULT", ""): (5, 0)}


def test_shipping_a_released_bundle_consumes_its_component_allocations(client, engine):
    add_components(engine, "KIT", [("A", 2), ("B", 1)])
    receive(client, "A", 5)
    receive(client, "B", 5)
    create_order(client, 1, [("KIT", 2)])
    release(client, 1)

    post_event(
        client,
        order_event(1, [("KIT", 2)], event_type="order_shipped", occurred_at="2026-11-20T05:00Z"),
    )

    assert order(client, 1)["status"] == "SHIPPED"
    assert balances(engine, "A") == {("DEFAULT", ""): (1, 0)}
    assert balances(engine, "B") == {("DEFAULT", ""): (3, 0)}


def test_shipment_leaves_from_the_reserved_place_not_the_strategys_first_choice(client, engine):
    add_location(engine, "PF-1", "pick_face", 1)
    add_location(engine, "BULK-9", "bulk", 9)
    receive(client, "SKU-A", 2, location="BULK-9")
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)  # only bulk had stock then
    receive(client, "SKU-A", 5, location="PF-1")

    post_event(
        client,
        order_event(1, [("SKU-A", 2)], event_type="order_shipped", occurred_at="2026-11-20T05:00Z"),
    )

    assert balances(engine, "SKU-A") == {("BULK-9", ""): (0, 0), ("PF-1", ""): (5, 0)}
