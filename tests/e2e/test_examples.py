"""The spec's example stream gives the documented end state, in any order, with duplicates."""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_test_app
from tests.helpers import AUTH, assert_ledger_consistent, example, ledger, post_event

STREAM = [
    "order_created",
    "order_changed",
    "order_shipped_partial",
    "order_shipped_full",
    "order_deleted",
]
ACCOUNT = "?account_id=kowhai-nz"


def movements(client):
    items = client.get("/api/movements?per_page=500", headers=AUTH).json["items"]
    return sorted((m["sku"], m["type"], m["quantity"]) for m in items)


def assert_documented_end_state(client, engine):
    order = client.get(f"/api/orders/2147483702{ACCOUNT}", headers=AUTH).json
    assert order["status"] == "SHIPPED"
    assert [
        (line["sku"], line["quantity"], line["quantity_shipped"]) for line in order["lines"]
    ] == [
        ("CNDL-KWK-200", 3, 3),
        ("CNDL-KWK-200", 1, 1),
        ("WICK-TRIM-BR", 2, 2),
    ]
    assert ledger(engine) == {"CNDL-KWK-200": -4, "WICK-TRIM-BR": -2}
    tombstone = client.get(f"/api/orders/2147483703{ACCOUNT}", headers=AUTH).json
    assert tombstone["status"] == "CANCELLED"
    assert tombstone["lines"] == []
    for sku, on_hand in (("CNDL-KWK-200", -4), ("WICK-TRIM-BR", -2)):
        stock = client.get(f"/api/stock/{sku}", headers=AUTH).json
        assert stock["on_hand"] == on_hand
        assert stock["flags"] == ["negative"]
    assert_ledger_consistent(engine)


def test_examples_in_order_give_the_documented_end_state(client, engine):
    statuses = [post_event(client, example(name)).json["status"] for name in STREAM]
    assert statuses == ["applied"] * 5
    assert_documented_end_state(client, engine)
    assert movements(client) == [("CNDL-KWK-200", "shipment", -4), ("WICK-TRIM-BR", "shipment", -2)]


def test_partial_then_full_shipment_ships_in_two_steps(client, engine):
    for name in ("order_created", "order_shipped_partial"):
        post_event(client, example(name))
    order = client.get(f"/api/orders/2147483702{ACCOUNT}", headers=AUTH).json
    assert order["status"] == "PARTIALLY_SHIPPED"
    assert ledger(engine) == {"CNDL-KWK-200": -4}
    post_event(client, example("order_shipped_full"))
    assert ledger(engine) == {"CNDL-KWK-200": -4, "WICK-TRIM-BR": -2}


def test_an_older_order_created_does_not_resurrect_a_deleted_order(client):
    post_event(client, example("order_deleted"))
    older = example("order_created")
    older["event_id"] = "evt_old_create"
    older["order"]["order_id"] = 2147483703
    older["order"]["order_number"] = "KH-20932"
    assert post_event(client, older).json["status"] == "stale"
    order = client.get(f"/api/orders/2147483703{ACCOUNT}", headers=AUTH).json
    assert order["status"] == "CANCELLED"
    assert order["lines"] == []
    assert order["timeline"][-1]["kind"] == "stale"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(STREAM),
    duplicates=st.lists(st.sampled_from(STREAM), max_size=4),
    positions=st.lists(st.integers(min_value=0, max_value=8), min_size=4, max_size=4),
)
def test_any_arrival_order_with_duplicates_gives_the_same_end_state(
    databases, tmp_path_factory, order, duplicates, positions
):
    stream = list(order)
    for name, pos in zip(duplicates, positions, strict=False):
        stream.insert(min(pos, len(stream)), name)
    app = make_test_app(databases.fresh(), tmp_path_factory.mktemp("inst"))
    client = app.test_client()
    engine = app.extensions["stockmirror"].db.engine
    try:
        seen = set()
        for name in stream:
            status = post_event(client, example(name)).json["status"]
            if name in seen:
                assert status == "duplicate"
            seen.add(name)
        assert_documented_end_state(client, engine)
        with engine.connect() as conn:
            shipped = conn.execute(
                sa.text(
                    "SELECT sku, SUM(quantity) FROM stock_movements WHERE order_id = 2147483702 "
                    "GROUP BY sku ORDER BY sku"
                )
            ).all()
        assert [tuple(r) for r in shipped] == [("CNDL-KWK-200", -4), ("WICK-TRIM-BR", -2)]
    finally:
        app.extensions["stockmirror"].db.dispose()


def test_a_zoneless_seven_digit_order_date_and_ids_past_two_to_the_31_are_kept(client):
    body = example("order_created")
    assert body["order"]["order_date"] == "2026-11-19T21:14:03.5530917"  # no zone, 7 digits
    assert post_event(client, body).json["status"] == "applied"
    order = client.get(f"/api/orders/2147483702{ACCOUNT}", headers=AUTH).json
    assert order["order_date"] == "2026-11-19T21:14:03.553091Z"  # read as UTC
    assert [line["item_id"] for line in order["lines"]] == [2147483646, 2147483647, 2147483649]
