"""Releasing orders (CONTRACT §4, issue 5 points 1, 3, 4, 6, 8) over HTTP."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.allocation_helpers import (
    adjust,
    assert_allocations_consistent,
    balances,
    create_order,
    order,
    order_event,
    receive,
    release,
)
from tests.conftest import make_test_app
from tests.helpers import AUTH, ledger, post_event


@pytest.fixture
def app_overrides():
    return {"allocation": "manual"}


@pytest.fixture(autouse=True)
def _consistent(app, engine):
    yield
    assert_allocations_consistent(engine)


def test_release_reserves_stock_and_marks_the_order_released(client, engine):
    receive(client, "SKU-A", 10)
    create_order(client, 1, [("SKU-A", 2), ("SKU-A", 1)])

    response = release(client, 1)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "RELEASED"
    assert body["allocation_status"] == "ALLOCATED"
    assert [line["quantity_allocated"] for line in body["lines"]] == [2, 1]
    assert body["lines"][0]["allocations"] == [
        {"sku": "SKU-A", "location": "DEFAULT", "batch": None, "quantity": 2, "strategy": "fifo"}
    ]
    assert body["allocations"][0]["plan"]["strategy"] == "fifo"
    assert body["lines"] == order(client, 1)["lines"]
    timeline = order(client, 1)["timeline"]
    assert any(t["kind"] == "allocation" for t in timeline)
    assert any(t["detail"] == "PENDING → RELEASED" for t in timeline)
    stock = client.get("/api/stock/SKU-A", headers=AUTH).json
    assert (stock["on_hand"], stock["allocated"], stock["available"]) == (10, 3, 7)


def test_releasing_an_allocated_order_again_changes_nothing(client, engine):
    receive(client, "SKU-A", 10)
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)

    again = release(client, 1)

    assert again.status_code == 200
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (10, 2)}


def test_release_with_allocation_off_is_409_and_reserves_nothing(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path, allocation="off")
    client = app.test_client()
    receive(client, "SKU-A", 10)
    create_order(client, 1, [("SKU-A", 2)])

    response = release(client, 1)
    bulk = client.post("/api/releases", json={"order_ids": [1]}, headers=AUTH)

    assert response.status_code == 409
    assert "off" in response.json["error"]
    assert bulk.status_code == 409
    assert order(client, 1)["status"] == "PENDING"
    assert balances(app.extensions["stockmirror"].db.engine, "SKU-A") == {("DEFAULT", ""): (10, 0)}
    app.extensions["stockmirror"].db.dispose()


def test_short_order_answers_409_with_shortages_and_reserves_nothing(client, engine):
    receive(client, "SKU-A", 10)
    receive(client, "SKU-B", 1)
    create_order(client, 1, [("SKU-A", 2), ("SKU-B", 3)])

    response = release(client, 1)

    assert response.status_code == 409
    assert response.json["shortages"] == [{"sku": "SKU-B", "needed": 3, "available": 1}]
    body = order(client, 1)
    assert body["status"] == "PENDING"
    assert body["allocation_status"] == "COULD_NOT_ALLOCATE"
    assert [line["quantity_allocated"] for line in body["lines"]] == [0, 0]
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (10, 0)}
    assert body["insufficient_inventory"] == [{"sku": "SKU-B", "needed": 3, "available": 1}]


def test_partial_release_reserves_what_there_is(client, engine):
    receive(client, "SKU-A", 10)
    receive(client, "SKU-B", 1)
    create_order(client, 1, [("SKU-A", 2), ("SKU-B", 3)])

    response = release(client, 1, allow_partial=True)

    assert response.status_code == 200
    assert response.json["status"] == "RELEASED"
    assert response.json["allocation_status"] == "PARTIALLY_ALLOCATED"
    assert [line["quantity_allocated"] for line in response.json["lines"]] == [2, 1]
    assert balances(engine, "SKU-B") == {("DEFAULT", ""): (1, 1)}


def test_release_of_unknown_order_is_404_and_bad_body_is_422(client):
    assert release(client, 99).status_code == 404
    bad = client.post("/api/orders/99/release", json={"allow_partial": "maybe"}, headers=AUTH)
    assert bad.status_code == 422
    assert "allow_partial" in bad.json["fields"]
    neither = client.post("/api/releases", json={}, headers=AUTH)
    assert neither.status_code == 422
    assert "order_ids" in neither.json["fields"]


def test_bulk_release_serves_the_oldest_order_date_first(client, engine):
    receive(client, "SKU-A", 3)
    create_order(client, 1, [("SKU-A", 2)], order_date="2026-11-20T03:00:00Z")
    create_order(client, 2, [("SKU-A", 2)], order_date="2026-11-20T01:00:00Z")
    create_order(client, 3, [("SKU-A", 1)], order_date="2026-11-20T02:00:00Z")

    response = client.post("/api/releases", json={"order_ids": [1, 3, 2, 404]}, headers=AUTH)

    assert response.status_code == 200
    results = response.json["results"]
    assert [(r["order_id"], r["outcome"]) for r in results] == [
        (2, "released"),
        (3, "released"),
        (1, "short"),
        (404, "skipped"),
    ]
    assert results[2]["shortages"] == [{"sku": "SKU-A", "needed": 2, "available": 0}]
    assert order(client, 1)["allocation_status"] == "COULD_NOT_ALLOCATE"
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (3, 3)}


def test_release_by_filter_takes_allocatable_pending_orders(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)], order_date="2026-11-20T01:00:00Z")
    create_order(client, 2, [("SKU-A", 9)], order_date="2026-11-20T02:00:00Z")
    create_order(client, 3, [("SKU-A", 3)], order_date="2026-11-20T03:00:00Z")

    response = client.post(
        "/api/releases",
        json={"filter": {"status": ["PENDING"], "allocatable": True}},
        headers=AUTH,
    )

    results = response.json["results"]
    assert [(r["order_id"], r["outcome"]) for r in results] == [(1, "released"), (3, "released")]
    assert order(client, 2)["status"] == "PENDING"


def test_deallocate_frees_the_stock_and_returns_the_order_to_pending(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)

    response = client.post("/api/orders/1/deallocate", headers=AUTH)

    assert response.status_code == 200
    assert response.json["status"] == "PENDING"
    assert response.json["allocation_status"] == "UNALLOCATED"
    assert response.json["lines"][0]["quantity_allocated"] == 0
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (5, 0)}
    assert client.post("/api/orders/77/deallocate", headers=AUTH).status_code == 404


def test_shipment_consumes_the_allocation_and_ships_from_it(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)

    post_event(
        client,
        order_event(1, [("SKU-A", 2)], event_type="order_shipped", occurred_at="2026-11-20T05:00Z"),
    )

    body = order(client, 1)
    assert body["status"] == "SHIPPED"
    assert body["allocations"][0]["consumed"] == 2
    assert body["allocations"][0]["remaining"] == 0
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (3, 0)}
    assert ledger(engine) == {"SKU-A": 3}


def test_partial_shipment_consumes_only_the_shipped_units(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 4)])
    release(client, 1)

    post_event(
        client,
        order_event(
            1,
            [("SKU-A", 4)],
            event_type="order_shipped",
            occurred_at="2026-11-20T05:00Z",
            shipped=[1],
        ),
    )

    body = order(client, 1)
    assert body["status"] == "PARTIALLY_SHIPPED"
    assert body["lines"][0]["quantity_allocated"] == 3
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (4, 3)}


def test_changed_lines_cancel_allocations_and_return_the_order_to_pending(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)

    post_event(
        client,
        order_event(1, [("SKU-A", 3)], event_type="order_changed", occurred_at="2026-11-20T06:00Z"),
    )

    body = order(client, 1)
    assert body["status"] == "PENDING"
    assert body["allocation_status"] == "UNALLOCATED"
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (5, 0)}
    assert any("order lines changed" in t["detail"] for t in body["timeline"])


def test_address_only_change_keeps_the_allocations(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)

    post_event(
        client,
        order_event(
            1,
            [("SKU-A", 2)],
            event_type="order_changed",
            occurred_at="2026-11-20T06:00Z",
            country="NZ",
        ),
    )

    body = order(client, 1)
    assert body["status"] == "RELEASED"
    assert body["allocation_status"] == "ALLOCATED"
    assert body["lines"][0]["quantity_allocated"] == 2
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (5, 2)}


def test_deleted_order_frees_its_allocations(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    release(client, 1)

    post_event(
        client,
        order_event(1, [("SKU-A", 2)], event_type="order_deleted", occurred_at="2026-11-20T07:00Z"),
    )

    body = order(client, 1)
    assert body["status"] == "CANCELLED"
    assert body["allocation_status"] == "UNALLOCATED"
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (5, 0)}


def test_adjustment_below_allocated_marks_the_newest_orders_overallocated(client, engine):
    receive(client, "SKU-A", 6)
    create_order(client, 1, [("SKU-A", 2)], order_date="2026-11-20T01:00:00Z")
    create_order(client, 2, [("SKU-A", 2)], order_date="2026-11-20T02:00:00Z")
    create_order(client, 3, [("SKU-A", 2)], order_date="2026-11-20T03:00:00Z")
    client.post("/api/releases", json={"order_ids": [1, 2, 3]}, headers=AUTH)

    adjust(client, "SKU-A", -3)  # 3 on hand for 6 allocated: 3 too many

    statuses = {n: order(client, n)["allocation_status"] for n in (1, 2, 3)}
    assert statuses == {1: "ALLOCATED", 2: "OVERALLOCATED", 3: "OVERALLOCATED"}
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (3, 6)}  # nothing silently freed
    assert any("OVERALLOCATED" in t["detail"] for t in order(client, 3)["timeline"])

    client.post("/api/orders/3/deallocate", headers=AUTH)
    receive(client, "SKU-A", 1)
    fixed = release(client, 2)  # re-planned from scratch: 4 on hand, order 1 holds 2

    assert fixed.status_code == 200
    assert fixed.json["allocation_status"] == "ALLOCATED"
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (4, 4)}


def test_shipment_of_another_order_can_overallocate(client, engine):
    receive(client, "SKU-A", 3)
    create_order(client, 1, [("SKU-A", 3)])
    release(client, 1)

    post_event(
        client,
        order_event(2, [("SKU-A", 2)], event_type="order_shipped", occurred_at="2026-11-20T05:00Z"),
    )

    assert order(client, 1)["allocation_status"] == "OVERALLOCATED"
    assert order(client, 2)["status"] == "SHIPPED"


def test_allocatable_filter_and_insufficient_inventory_flag(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    create_order(client, 2, [("SKU-A", 6), ("SKU-B", 1)])

    yes = client.get("/api/orders?allocatable=true", headers=AUTH).json
    no = client.get("/api/orders?allocatable=false", headers=AUTH).json

    assert [o["order_id"] for o in yes["items"]] == [1]
    assert [o["order_id"] for o in no["items"]] == [2]
    assert no["items"][0]["insufficient_inventory"] == [
        {"sku": "SKU-A", "needed": 6, "available": 5},
        {"sku": "SKU-B", "needed": 1, "available": 0},
    ]
    assert yes["items"][0]["insufficient_inventory"] == []
    bad = client.get("/api/orders?allocatable=perhaps", headers=AUTH)
    assert bad.status_code == 422


def test_the_database_refuses_allocating_more_than_on_hand(client, engine):
    receive(client, "SKU-A", 2)
    with pytest.raises(sa.exc.DatabaseError, match="oversell"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE stock_balances SET allocated = 3 WHERE sku = 'SKU-A'"))
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (2, 0)}


def test_a_partially_shipped_order_releases_only_what_is_left_to_ship(client, engine):
    receive(client, "SKU-A", 10)
    post_event(
        client,
        order_event(
            1,
            [("SKU-A", 4)],
            event_type="order_shipped",
            occurred_at="2026-11-20T05:00Z",
            shipped=[1],
        ),
    )

    body = release(client, 1).json

    assert (body["status"], body["allocation_status"]) == ("PARTIALLY_SHIPPED", "ALLOCATED")
    assert body["lines"][0]["quantity_allocated"] == 3
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (9, 3)}

    post_event(
        client,
        order_event(
            1,
            [("SKU-A", 4)],
            event_type="order_shipped",
            occurred_at="2026-11-20T06:00Z",
            shipped=[4],
        ),
    )

    assert order(client, 1)["status"] == "SHIPPED"
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (6, 0)}


def test_a_later_shipment_consumes_only_the_units_it_ships(client, engine):
    receive(client, "SKU-A", 10)
    post_event(
        client,
        order_event(
            1,
            [("SKU-A", 4)],
            event_type="order_shipped",
            occurred_at="2026-11-20T05:00Z",
            shipped=[1],
        ),
    )
    release(client, 1)  # 3 left to ship are reserved

    post_event(
        client,
        order_event(
            1,
            [("SKU-A", 4)],
            event_type="order_shipped",
            occurred_at="2026-11-20T06:00Z",
            shipped=[2],
        ),
    )

    assert order(client, 1)["lines"][0]["quantity_allocated"] == 2
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (8, 2)}
