"""Real Starshipit data: items without a SKU are non-stock lines (CONTRACT §2), quantity-0
lines create no demand, and the shapes real accounts send (dates with no zone and 7
fractional digits, ids near 2^31, one SKU on several lines) go through every path:
webhook, polling, tracking fetch, reconciliation and repair."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses
import sqlalchemy as sa

from app.reconcile.polling import poll_account
from app.reconcile.service import FULLY_SHIPPED_NOTE, repair_run, run_reconciliation
from tests.allocation_helpers import create_order, receive, release
from tests.db_refusal import refusing
from tests.helpers import AUTH, ledger, post_event, signed_headers
from tests.reconcile_fake import STARSHIPIT_SETTINGS, FakeStarshipit, make_client

SINCE = datetime(2026, 11, 19, tzinfo=UTC)
UNTIL = datetime(2026, 11, 22, tzinfo=UTC)
BIG_ID = 2**31 + 7  # ids near and past 2^31 (item ids in real dumps reach ~1.76e9)

# An order as Starshipit's /api/orders/unshipped lists it in real accounts.
REAL_ORDER = {
    "order_id": BIG_ID,
    "order_number": "#1042",
    "order_date": "2025-09-15T04:33:55.6676088",  # no zone, 7 fractional digits
    "status": "Unshipped",
    "items": [
        {"item_id": 2**31 - 1, "sku": "TEA-250", "quantity": 2, "quantity_shipped": 0},
        {"item_id": 1_760_000_001, "description": "Custom gift pack", "quantity": 1},
        {"item_id": 1_760_000_002, "sku": "TEA-250", "quantity": 1, "quantity_shipped": 0},
        {"item_id": 1_760_000_003, "sku": "MUG", "quantity": 0, "quantity_shipped": 0},
        {"item_id": 1_760_000_004, "sku": "", "description": "Engraving", "quantity": 1},
    ],
}


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


@pytest.fixture
def db(app):
    return app.extensions["stockmirror"].db


def event(event_id, order, event_type="order_created", at="2026-11-20T05:00:00Z"):
    return {"event_id": event_id, "event_type": event_type, "occurred_at": at, "order": order}


def shipped(order, *, quantity_shipped=True):
    out = json.loads(json.dumps(order))
    out["status"] = "Shipped"
    for item in out["items"]:
        item.pop("quantity_shipped", None)
        if quantity_shipped:
            item["quantity_shipped"] = item["quantity"]
    return out


def detail(client, order_id=BIG_ID):
    response = client.get(f"/api/orders/{order_id}", headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


def test_items_without_a_sku_are_mirrored_as_non_stock_lines(client):
    assert post_event(client, event("e1", REAL_ORDER)).json["status"] == "applied"

    body = detail(client)
    assert [(x["sku"], x["stock"], x["quantity"]) for x in body["lines"]] == [
        ("TEA-250", True, 2),
        (None, False, 1),
        ("TEA-250", True, 1),
        ("MUG", True, 0),
        (None, False, 1),
    ]
    assert body["lines"][1]["description"] == "Custom gift pack"
    assert body["lines"][0]["item_id"] == 2**31 - 1
    assert body["order_date"] == "2025-09-15T04:33:55.667608Z"
    assert "non-stock 'Custom gift pack' ×1" in body["timeline"][0]["detail"]


def test_shipping_moves_stock_for_stock_lines_only_and_ends_shipped(client, engine):
    post_event(client, event("e1", REAL_ORDER))
    answer = post_event(
        client, event("e2", shipped(REAL_ORDER), "order_shipped", "2026-11-21T00:00Z")
    )

    assert answer.json["status"] == "applied"
    assert ledger(engine) == {"TEA-250": -3}
    body = detail(client)
    assert body["status"] == "SHIPPED"
    assert [x["quantity_shipped"] for x in body["lines"]] == [2, 1, 1, 0, 1]


def test_an_order_of_only_non_stock_lines_that_ships_ends_shipped_with_no_movement(client, engine):
    only = {"order_id": 5, "order_number": "N-5", "items": [{"description": "Gift", "quantity": 2}]}
    post_event(client, event("e1", only))
    assert detail(client, 5)["status"] == "PENDING"

    post_event(client, event("e2", only, "order_shipped", "2026-11-21T00:00:00Z"))

    assert detail(client, 5)["status"] == "SHIPPED"
    assert ledger(engine) == {}
    # a voided label brings it back
    voided = json.loads(json.dumps(only))
    voided["items"][0]["quantity_shipped"] = 0
    post_event(client, event("e3", voided, "order_shipped", "2026-11-22T00:00:00Z"))
    assert detail(client, 5)["status"] == "PENDING"


def test_orders_with_non_stock_lines_are_listed_as_unmapped(client):
    post_event(client, event("e1", REAL_ORDER))
    stock_only = {"order_id": 6, "order_number": "N-6", "items": [{"sku": "A", "quantity": 1}]}
    post_event(client, event("e2", stock_only))

    unmapped = client.get("/api/orders?unmapped=true", headers=AUTH).json
    mapped = client.get("/api/orders?unmapped=false", headers=AUTH).json

    assert [o["order_id"] for o in unmapped["items"]] == [BIG_ID]
    assert [o["order_id"] for o in mapped["items"]] == [6]


class TestTracking:
    @pytest.fixture
    def app_overrides(self):
        return STARSHIPIT_SETTINGS

    def test_a_fetch_applies_non_stock_lines_and_a_shipped_order_without_shipped_quantities(
        self, client, engine, starshipit
    ):
        order = {**REAL_ORDER, "order_number": "1042"}
        post_event(client, event("e1", order))
        fetched = shipped(order, quantity_shipped=False)
        for item in fetched["items"]:
            item["quantity_shipped"] = 0  # shipped, yet no line says how many
        starshipit.orders[BIG_ID] = fetched
        body = {
            "order_number": 1042,  # Starshipit may send it unquoted: read as text
            "tracking_number": "T1",
            "tracking_status": "Dispatched",
            "last_updated_date": "2026-11-21T01:00:00.1234567",
        }
        raw = json.dumps(body).encode()

        answer = client.post("/webhooks/starshipit/tracking", data=raw, headers=signed_headers(raw))

        assert answer.status_code == 200, answer.json
        assert answer.json["status"] == "applied"
        assert starshipit.detail_calls == ["order_number=1042"]
        assert ledger(engine) == {"TEA-250": -3}
        order_body = detail(client)
        assert order_body["status"] == "SHIPPED"
        notes = [t["detail"] for t in order_body["timeline"] if t["kind"] == "note"]
        assert notes == [
            "Starshipit reports the order shipped without shipped quantities on its lines: "
            "counted as shipped in full"
        ]

    def test_the_same_notice_with_order_number_as_text_or_number_is_one_event(
        self, client, starshipit
    ):
        body = {"order_number": 1042, "tracking_number": "T1", "tracking_status": "Printed"}
        raw = json.dumps(body).encode()
        first = client.post("/webhooks/starshipit/tracking", data=raw, headers=signed_headers(raw))
        text = json.dumps(body | {"order_number": "1042"}).encode()
        again = client.post(
            "/webhooks/starshipit/tracking", data=text, headers=signed_headers(text)
        )
        assert first.json["event_id"] == again.json["event_id"]


def test_polling_stores_orders_with_non_stock_lines_and_moves_its_cursor(client, db, starshipit):
    starshipit.add_unshipped(json.loads(json.dumps(REAL_ORDER)))

    result = poll_account(db, make_client())

    assert (result.created, result.parked, result.invalid) == (1, 0, 0)
    assert [x["stock"] for x in detail(client)["lines"]] == [True, False, True, True, False]
    again = poll_account(db, make_client())
    assert again.unchanged == 1  # non-stock lines compare equal: nothing applied twice


def test_polling_keeps_an_order_that_does_not_validate_and_only_then_moves_on(
    client, db, engine, starshipit
):
    broken = json.loads(json.dumps(REAL_ORDER))
    broken["items"][0]["quantity"] = -2
    starshipit.add_unshipped(broken)

    result = poll_account(db, make_client())

    assert (result.parked, result.invalid) == (1, 1)
    parked = client.get("/api/events?status=parked", headers=AUTH).json["items"]
    assert [(e["order_id"], e["reason"]) for e in parked] == [
        (BIG_ID, "does not validate: order.items[0].quantity")
    ]
    # polled again (the cursor's overlap): the same event, not a second parked copy
    poll_account(db, make_client())
    assert client.get("/api/events?status=parked", headers=AUTH).json["total"] == 1


def test_polling_applies_shipped_orders_from_the_shipped_listing(client, db, engine, starshipit):
    post_event(client, event("e1", REAL_ORDER))
    starshipit.ship(shipped(REAL_ORDER, quantity_shipped=False))

    result = poll_account(db, make_client())

    assert (result.shipped_seen, result.shipped_queued, result.shipped_applied) == (1, 1, 1)
    assert ledger(engine) == {"TEA-250": -3}
    body = detail(client)
    assert body["status"] == "SHIPPED"
    assert [t["detail"] for t in body["timeline"] if t["kind"] == "note"] == [FULLY_SHIPPED_NOTE]
    again = poll_account(db, make_client())
    assert (again.shipped_seen, again.shipped_queued) == (1, 0)  # fully shipped: no fetch


@pytest.fixture
def refuse_inbox_order(engine):
    """The database refuses to store any inbox row of order 777."""
    with refusing(engine, "inbox_events", "NEW.order_id = 777"):
        yield


def test_polling_never_moves_its_cursor_past_an_order_it_could_not_store(
    db, engine, starshipit, refuse_inbox_order
):
    starshipit.add_unshipped({**REAL_ORDER, "order_id": 777})

    with pytest.raises(Exception, match="cannot be stored"):
        poll_account(db, make_client())

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM poll_cursors")).scalar() == 0


def test_reconciliation_matches_non_stock_and_quantity_0_lines_without_detail_calls(
    client, db, starshipit
):
    receive(client, "TEA-250", 10)
    post_event(client, event("e1", shipped(REAL_ORDER), "order_shipped"))
    starshipit.ship(shipped(REAL_ORDER))

    run_id = run_reconciliation(db, make_client(), since=SINCE, until=UNTIL)

    with db.engine.connect() as conn:
        matched, drift = conn.execute(
            sa.text(
                "SELECT matched, (SELECT count(*) FROM reconciliation_drift WHERE run_id = :id) "
                "FROM reconciliation_runs WHERE id = :id"
            ),
            {"id": run_id},
        ).one()
    assert (matched, drift) == (1, 0)
    assert starshipit.detail_calls == []


def test_repair_creates_an_unknown_order_with_non_stock_lines(client, db, engine, starshipit):
    receive(client, "TEA-250", 10)
    starshipit.ship(shipped(REAL_ORDER, quantity_shipped=False))
    run_id = run_reconciliation(db, make_client(), since=SINCE, until=UNTIL)

    result = repair_run(db, run_id)

    assert (result.repaired, result.skipped) == (1, [])
    assert ledger(engine) == {"TEA-250": 10 - 3}
    body = detail(client)
    assert body["status"] == "SHIPPED"
    assert [x["stock"] for x in body["lines"]] == [True, False, True, True, False]
    assert any(t["kind"] == "note" for t in body["timeline"])


class TestAllocation:
    @pytest.fixture
    def app_overrides(self):
        return {"allocation": "manual"}

    def test_release_allocates_the_stock_lines_and_leaves_non_stock_lines_alone(self, client):
        receive(client, "TEA-250", 10)
        post_event(client, event("e1", REAL_ORDER))

        response = release(client, BIG_ID)

        assert response.status_code == 200, response.json
        assert response.json["allocation_status"] == "ALLOCATED"
        lines = detail(client)["lines"]
        assert [(x["sku"], x["quantity_allocated"]) for x in lines] == [
            ("TEA-250", 2),
            (None, 0),
            ("TEA-250", 1),
            ("MUG", 0),
            (None, 0),
        ]
        picks = client.get(f"/api/orders/{BIG_ID}/picklist", headers=AUTH).json["lines"]
        assert [(p["sku"], p["quantity"]) for p in picks] == [("TEA-250", 3)]

    def test_an_order_of_only_non_stock_lines_is_skipped_and_never_short(self, client):
        only = {
            "order_id": 9,
            "order_number": "N-9",
            "items": [{"description": "G", "quantity": 1}],
        }
        post_event(client, event("e1", only))
        create_order(client, 10, [("TEA-250", 1)])

        orders = client.get("/api/orders", headers=AUTH).json["items"]
        assert {o["order_id"]: o["insufficient_inventory"] for o in orders}[9] == []
        allocatable = client.get("/api/orders?allocatable=true", headers=AUTH).json["items"]
        assert [o["order_id"] for o in allocatable] == []
        response = release(client, 9)
        assert response.status_code == 409
        assert "order has no stock lines" in response.json["error"]
