"""Stocktakes: book at open, counts, one movement per differing SKU (issue 3 §4)."""

from __future__ import annotations

from tests.e2e.inventory_helpers import at, call, location, ok, receive, stock
from tests.helpers import ledger


def open_count(client, location_code="BULK-1", skus=None):
    body = {"location": location_code} | ({"skus": skus} if skus is not None else {})
    return ok(call(client, "POST", "/api/stocktakes", body), 201)


def submit(client, stocktake_id, counts):
    return call(client, "POST", f"/api/stocktakes/{stocktake_id}/counts", {"counts": counts})


def test_counts_post_one_stocktake_movement_per_differing_sku_and_keep_the_record(client):
    location(client, "BULK-1")
    receive(
        client,
        "GRN-1",
        [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 5}, {"sku": "C", "quantity": 2}],
        location="BULK-1",
    )
    st = open_count(client)
    assert [(ln["sku"], ln["book"]) for ln in st["lines"]] == [("A", 10), ("B", 5), ("C", 2)]

    done = ok(
        submit(
            client,
            st["id"],
            [{"sku": "A", "counted": 8}, {"sku": "B", "counted": 5}, {"sku": "D", "counted": 1}],
        )
    )

    assert done["status"] == "submitted"
    lines = {
        ln["sku"]: (ln["book"], ln["counted"], ln["difference"], ln["status"])
        for ln in done["lines"]
    }
    assert lines == {
        "A": (10, 8, -2, "applied"),
        "B": (5, 5, 0, "unchanged"),
        "C": (2, None, None, "not_counted"),
        "D": (0, 1, 1, "applied"),
    }
    moves = ok(call(client, "GET", "/api/movements?type=stocktake"))["items"]
    assert sorted((m["sku"], m["quantity"]) for m in moves) == [("A", -2), ("D", 1)]
    assert ledger(engine=client.application.extensions["stockmirror"].db.engine) == {
        "A": 8,
        "B": 5,
        "C": 2,
        "D": 1,
    }


def test_a_sku_that_moved_since_the_count_opened_is_reported_not_applied(client, engine):
    location(client, "BULK-1")
    receive(
        client,
        "GRN-1",
        [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 4}],
        location="BULK-1",
    )
    st = open_count(client, skus=["A", "B"])
    receive(client, "GRN-2", [{"sku": "A", "quantity": 3}], location="BULK-1")

    done = ok(submit(client, st["id"], [{"sku": "A", "counted": 10}, {"sku": "B", "counted": 3}]))

    assert done["moved"] == ["A"]
    assert at(stock(client, "A"), "BULK-1") == 13
    assert at(stock(client, "B"), "BULK-1") == 3
    assert ledger(engine) == {"A": 13, "B": 3}


def test_a_stocktake_is_submitted_once(client):
    location(client, "BULK-1")
    st = open_count(client, skus=["A"])
    ok(submit(client, st["id"], [{"sku": "A", "counted": 1}]))
    assert submit(client, st["id"], [{"sku": "A", "counted": 2}]).status_code == 409
    assert at(stock(client, "A"), "BULK-1") == 1


def test_a_negative_count_or_unknown_location_is_refused_and_changes_nothing(client, engine):
    location(client, "BULK-1")
    receive(client, "GRN-1", [{"sku": "A", "quantity": 4}], location="BULK-1")
    st = open_count(client)
    bad = submit(client, st["id"], [{"sku": "A", "counted": -1}])
    assert bad.status_code == 422
    assert "counts[0].counted" in bad.get_json()["fields"]
    unknown = call(client, "POST", "/api/stocktakes", {"location": "NOWHERE"})
    assert unknown.status_code == 422
    assert "location" in unknown.get_json()["fields"]
    assert ok(call(client, "GET", f"/api/stocktakes/{st['id']}"))["status"] == "open"
    assert ledger(engine) == {"A": 4}


def test_batch_tracked_stock_is_counted_per_batch(client, engine):
    ok(call(client, "POST", "/api/products", {"sku": "MILK", "tracking": "batch"}), 201)
    location(client, "BULK-1")
    receive(
        client,
        "GRN-1",
        [
            {"sku": "MILK", "quantity": 4, "batch": "L1"},
            {"sku": "MILK", "quantity": 6, "batch": "L2"},
        ],
    )
    receive(client, "GRN-2", [{"sku": "MILK", "quantity": 2, "batch": "L1"}], location="BULK-1")
    st = open_count(client, "DEFAULT")

    done = ok(
        submit(
            client,
            st["id"],
            [
                {"sku": "MILK", "batch": "L1", "counted": 4},
                {"sku": "MILK", "batch": "L2", "counted": 5},
            ],
        )
    )

    assert [(ln["batch"], ln["difference"], ln["status"]) for ln in done["lines"]] == [
        ("L1", 0, "unchanged"),
        ("L2", -1, "applied"),
    ]
    view = stock(client, "MILK")
    assert {(loc["location"], loc["batch"]): loc["on_hand"] for loc in view["locations"]} == {
        ("BULK-1", "L1"): 2,
        ("DEFAULT", "L1"): 4,
        ("DEFAULT", "L2"): 5,
    }
