"""Order mirror semantics (CONTRACT §2): targets, reversals, staleness, tombstones."""

from __future__ import annotations

from tests.helpers import AUTH, example, ledger, post_event, shipped_event


def order(client, order_id, account="default"):
    return client.get(f"/api/orders/{order_id}?account_id={account}", headers=AUTH).json


def movement_types(client, order_id):
    items = client.get(f"/api/movements?order_id={order_id}", headers=AUTH).json["items"]
    return [(m["type"], m["sku"], m["quantity"]) for m in reversed(items)]


def test_shipped_event_for_an_unseen_order_creates_it_shipped(client, engine):
    post_event(client, shipped_event("e1", 42, [("SKU-A", 2, None), ("SKU-B", 1, None)]))
    mirrored = order(client, 42)
    assert mirrored["status"] == "SHIPPED"
    assert mirrored["order_number"] == "N-42"
    assert [(line["sku"], line["quantity_shipped"]) for line in mirrored["lines"]] == [
        ("SKU-A", 2),
        ("SKU-B", 1),
    ]
    assert ledger(engine) == {"SKU-A": -2, "SKU-B": -1}


def test_same_sku_on_several_lines_is_summed(client, engine):
    post_event(client, shipped_event("e1", 1, [("SKU-A", 2, None), ("SKU-A", 3, None)]))
    assert ledger(engine) == {"SKU-A": -5}
    assert movement_types(client, 1) == [("shipment", "SKU-A", -5)]


def test_cumulative_quantity_shipped_ships_only_the_difference(client, engine):
    post_event(client, shipped_event("e1", 1, [("SKU-A", 4, 1)], "2026-11-20T01:00:00Z"))
    assert order(client, 1)["status"] == "PARTIALLY_SHIPPED"
    post_event(client, shipped_event("e2", 1, [("SKU-A", 4, 3)], "2026-11-20T02:00:00Z"))
    assert ledger(engine) == {"SKU-A": -3}
    post_event(client, shipped_event("e3", 1, [("SKU-A", 4, 4)], "2026-11-20T03:00:00Z"))
    assert ledger(engine) == {"SKU-A": -4}
    assert order(client, 1)["status"] == "SHIPPED"
    assert movement_types(client, 1) == [
        ("shipment", "SKU-A", -1),
        ("shipment", "SKU-A", -2),
        ("shipment", "SKU-A", -1),
    ]


def test_lines_without_quantity_shipped_count_zero_when_others_carry_it(client, engine):
    post_event(client, shipped_event("e1", 1, [("SKU-A", 2, 2), ("SKU-B", 5, None)]))
    assert ledger(engine) == {"SKU-A": -2}
    assert order(client, 1)["status"] == "PARTIALLY_SHIPPED"


def test_voided_label_writes_a_compensating_reversal(client, engine):
    post_event(client, shipped_event("e1", 1, [("SKU-A", 3, 3)], "2026-11-20T01:00:00Z"))
    post_event(client, shipped_event("e2", 1, [("SKU-A", 3, 1)], "2026-11-20T02:00:00Z"))
    assert ledger(engine) == {"SKU-A": -1}
    assert movement_types(client, 1) == [
        ("shipment", "SKU-A", -3),
        ("shipment_reversal", "SKU-A", 2),
    ]
    assert order(client, 1)["status"] == "PARTIALLY_SHIPPED"


def test_sku_dropped_from_a_newer_shipment_is_reversed(client, engine):
    post_event(
        client, shipped_event("e1", 1, [("SKU-A", 1, 1), ("SKU-B", 1, 1)], "2026-11-20T01:00:00Z")
    )
    post_event(client, shipped_event("e2", 1, [("SKU-A", 1, 1)], "2026-11-20T02:00:00Z"))
    assert ledger(engine) == {"SKU-A": -1, "SKU-B": 0}


def test_older_shipped_event_changes_nothing(client, engine):
    post_event(client, shipped_event("e2", 1, [("SKU-A", 3, 3)], "2026-11-20T02:00:00Z"))
    response = post_event(client, shipped_event("e1", 1, [("SKU-A", 3, 1)], "2026-11-20T01:00:00Z"))
    assert response.json["status"] == "stale"
    assert ledger(engine) == {"SKU-A": -3}
    assert order(client, 1)["status"] == "SHIPPED"


def test_same_time_events_are_ordered_by_event_id(client, engine):
    post_event(client, shipped_event("evt-b", 1, [("SKU-A", 3, 2)], "2026-11-20T02:00:00Z"))
    stale = post_event(client, shipped_event("evt-a", 1, [("SKU-A", 3, 3)], "2026-11-20T02:00:00Z"))
    assert stale.json["status"] == "stale"
    assert ledger(engine) == {"SKU-A": -2}


def test_times_with_offsets_and_no_zone_compare_as_instants(client, engine):
    newer = shipped_event("e1", 1, [("SKU-A", 3, 3)], "2026-11-20T15:00:00+12:00")  # 03:00Z
    older = shipped_event("e2", 1, [("SKU-A", 3, 1)], "2026-11-20T02:59:59.9999999")  # no zone
    post_event(client, newer)
    assert post_event(client, older).json["status"] == "stale"
    assert ledger(engine) == {"SKU-A": -3}


def test_deleting_a_shipped_order_keeps_its_shipments(client, engine):
    post_event(client, shipped_event("e1", 1, [("SKU-A", 2, None)], "2026-11-20T01:00:00Z"))
    deletion = {
        "event_id": "e2",
        "event_type": "order_deleted",
        "occurred_at": "2026-11-20T02:00:00Z",
        "order": {"order_id": 1},
    }
    assert post_event(client, deletion).json["status"] == "applied"
    mirrored = order(client, 1)
    assert mirrored["status"] == "SHIPPED"
    assert "deleted" in [entry["kind"] for entry in mirrored["timeline"]]
    assert ledger(engine) == {"SKU-A": -2}


def test_newer_change_after_deletion_brings_the_order_back(client):
    post_event(client, example("order_deleted"))
    newer = example("order_changed")
    newer.update(event_id="evt_later", occurred_at="2026-11-20T05:00:00Z")
    newer["order"].update(order_id=2147483703, order_number="KH-20932")
    assert post_event(client, newer).json["status"] == "applied"
    assert order(client, 2147483703, "kowhai-nz")["status"] == "PENDING"


def test_address_only_change_keeps_lines_and_status(client):
    post_event(client, example("order_created"))
    moved = example("order_created")
    moved.update(
        event_id="evt_addr", event_type="order_changed", occurred_at="2026-11-20T02:58:00Z"
    )
    moved["order"]["destination"]["city"] = "Wellington"
    assert post_event(client, moved).json["status"] == "applied"
    mirrored = order(client, 2147483702, "kowhai-nz")
    assert mirrored["destination"]["city"] == "Wellington"
    assert mirrored["status"] == "PENDING"
    assert len(mirrored["lines"]) == 3


def test_orders_are_keyed_by_account_and_order_id(client, engine):
    post_event(client, shipped_event("e1", 7, [("SKU-A", 1, None)], account_id="nz"))
    post_event(client, shipped_event("e1", 7, [("SKU-A", 2, None)], account_id="au"))
    assert order(client, 7, "nz")["lines"][0]["quantity"] == 1
    assert order(client, 7, "au")["lines"][0]["quantity"] == 2
    assert ledger(engine) == {"SKU-A": -3}
    missing = client.get("/api/orders/7", headers=AUTH)
    assert missing.status_code == 404
    assert "default" in missing.json["error"]


def test_timeline_records_every_event_and_movement(client):
    for name in ("order_created", "order_changed", "order_shipped_partial", "order_shipped_full"):
        post_event(client, example(name))
    post_event(
        client,
        example("order_created") | {"event_id": "evt_late", "occurred_at": "2026-11-20T00:00:00Z"},
    )
    kinds = [entry["kind"] for entry in order(client, 2147483702, "kowhai-nz")["timeline"]]
    assert kinds == [
        "created",
        "changed",
        "shipment",
        "shipped",
        "status",
        "shipment",
        "shipped",
        "status",
        "stale",
    ]


def test_timeline_words_each_movement_with_its_id_signed_quantity_and_place(client):
    post_event(client, shipped_event("e1", 7, [("SKU-A", 3, 3), ("SKU-B", 1, 1)]))
    post_event(  # a label voided: two units of SKU-A come back
        client,
        shipped_event("e2", 7, [("SKU-A", 3, 1), ("SKU-B", 1, 1)], "2026-11-20T06:00:00Z"),
    )
    items = client.get("/api/movements?order_id=7", headers=AUTH).json["items"]
    expected = [
        f"{m['type']} {m['sku']} {m['quantity']:+d} at {m['location']} (movement {m['id']})"
        for m in sorted(items, key=lambda m: m["id"])
    ]
    timeline = order(client, 7)["timeline"]
    logged = [e["detail"] for e in timeline if e["kind"] in ("shipment", "shipment_reversal")]
    assert logged == expected
    assert [m["quantity"] for m in sorted(items, key=lambda m: m["id"])] == [-3, -1, 2]


def test_parked_event_replays_and_stays_parked_while_the_cause_remains(client, engine):
    post_event(client, shipped_event("bad", 1, [("SKU-A", 1, 5)]))
    replay = client.post("/api/events/bad/replay", headers=AUTH)
    assert replay.status_code == 200
    assert replay.json["status"] == "parked"
    assert replay.json["attempts"] == 2
    assert "exceeds" in replay.json["reason"]
    assert ledger(engine) == {}


def test_applied_event_cannot_be_replayed(client):
    post_event(client, shipped_event("ok", 1, [("SKU-A", 1, None)]))
    replay = client.post("/api/events/ok/replay", headers=AUTH)
    assert replay.status_code == 409
    assert "applied" in replay.json["error"]
    assert client.post("/api/events/nope/replay", headers=AUTH).status_code == 404
