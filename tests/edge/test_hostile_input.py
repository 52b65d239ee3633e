"""Hostile input at every edge: refused with a 4xx naming what is wrong, before anything
is stored, on SQLite and PostgreSQL alike (CONTRACT §2 input rules, §4 query rules)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import make_test_app
from tests.helpers import AUTH, post_event, shipped_event, signed_headers

ORDERS = "/webhooks/starshipit/orders"
TRACKING = "/webhooks/starshipit/tracking"
TABLES = ("inbox_events", "event_conflicts", "orders", "order_lines", "stock_movements")


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()) for t in TABLES
        }


def event(**order_changes: Any) -> dict[str, Any]:
    body = shipped_event("evt-1", 42, [("SKU-1", 2, 2)])
    body["order"]["items"][0]["description"] = "Widget"
    body["order"].update(order_changes)
    return body


def with_item(**item: Any) -> dict[str, Any]:
    body = event()
    body["order"]["items"][0].update(item)
    return body


def raw_event(text: str) -> bytes:
    """An event whose JSON text has `@@` replaced by `text` (raw escapes, NaN...)."""
    body = json.dumps(event(reference="@@"))
    return body.replace('"@@"', text).encode()


SIGNED_REFUSALS = [
    # (what, body, status, field named)
    ("description over the column", with_item(description="d" * 501), 422, "description"),
    ("status over the column", event(status="s" * 51), 422, "order.status"),
    ("quantity at 2^31", with_item(quantity=2**31), 422, "quantity"),
    ("quantity at 2^63-1", with_item(quantity=2**63 - 1, quantity_shipped=1), 422, "quantity"),
    ("shipped at 2^31", with_item(quantity_shipped=2**31), 422, "quantity_shipped"),
    ("item_id beyond int64", with_item(item_id=2**63), 422, "item_id"),
    ("order_id beyond int64", event(order_id=2**64), 422, "order.order_id"),
    ("NUL in a SKU", with_item(sku="A\x00B"), 422, "sku"),
    ("tab in a SKU", with_item(sku="A\tB"), 422, "sku"),
    ("whitespace-only SKU", with_item(sku="   "), 422, "sku"),
    ("NUL in a description", with_item(description="a\x00"), 422, "description"),
    ("NUL in order_number", event(order_number="N\x00"), 422, "order.order_number"),
    ("NUL in reference", event(reference="\x00"), 422, "order.reference"),
    ("NUL in an address", event(destination={"city": "Auck\x00land"}), 422, "destination"),
    ("NUL in a package", event(packages=[{"tracking_number": "\x00"}]), 422, "packages"),
    ("C1 control in platform", event(platform="Shop\x85ify"), 422, "order.platform"),
    ("value beyond Numeric(14,4)", with_item(value=10**10), 422, "value"),
    ("time before year 1 in UTC", event(order_date="0001-01-01T00:00:00+01:00"), 422, "order_date"),
    (
        "time after year 9999 in UTC",
        event(order_date="9999-12-31T23:00:00-05:00"),
        422,
        "order_date",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [case[1:] for case in SIGNED_REFUSALS],
    ids=[case[0] for case in SIGNED_REFUSALS],
)
def test_signed_event_breaking_a_column_is_refused_naming_the_field_and_nothing_is_stored(
    client, engine, body, status, field
):
    before = counts(engine)
    response = post_event(client, body)
    assert response.status_code == status, response.get_json()
    named = response.get_json().get("fields", {})
    assert any(field in name for name in named), named
    assert counts(engine) == before


def test_free_text_may_hold_tabs_and_newlines(client, engine):
    body = with_item(description="line one\r\nline\ttwo")
    body["order"]["destination"] = {"street": "1 Queen St\nLevel 2"}
    assert post_event(client, body).get_json()["status"] == "applied"


RAW_REFUSALS = [
    ("lone surrogate in a field", '"\\ud800"', 422),
    ("lone low surrogate", '"a\\udfffb"', 422),
    ("NaN", "NaN", 400),
    ("Infinity", "-Infinity", 400),
    ("a number beyond a double", "1e999", 400),
]


@pytest.mark.parametrize(
    ("text", "status"), [c[1:] for c in RAW_REFUSALS], ids=[c[0] for c in RAW_REFUSALS]
)
def test_signed_body_with_invalid_json_values_is_refused_and_nothing_is_stored(
    client, engine, text, status
):
    raw = raw_event(text)
    response = client.post(ORDERS, data=raw, headers=signed_headers(raw))
    assert response.status_code == status, response.get_json()
    assert counts(engine) == {t: 0 for t in TABLES}


def test_lone_surrogate_in_an_unknown_field_is_refused_too(client, engine):
    raw = json.dumps(event()).replace('"order": {', '"order": {"note": "\\udc00", ', 1).encode()
    response = client.post(ORDERS, data=raw, headers=signed_headers(raw))
    assert response.status_code == 422
    assert "order.note" in response.get_json()["fields"]


def test_escaped_surrogate_pair_is_a_valid_character(client):
    raw = json.dumps(with_item(description="\U0001f600 smile"), ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in raw
    assert client.post(ORDERS, data=raw, headers=signed_headers(raw)).status_code == 200


def test_json_nested_100k_deep_is_400_not_a_crash(client, engine):
    raw = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    response = client.post(ORDERS, data=raw, headers=signed_headers(raw))
    assert response.status_code == 400
    assert counts(engine)["inbox_events"] == 0


def test_non_ascii_signature_is_401_not_500(client, engine):
    raw = json.dumps(event()).encode()
    headers = {"Content-Type": "application/json", "X-Starshipit-Signature": "é" * 64}
    response = client.post(ORDERS, data=raw, headers=headers)
    assert response.status_code == 401
    assert counts(engine)["inbox_events"] == 0


@pytest.mark.parametrize(
    "change",
    [{"order_number": "N\x00"}, {"tracking_status": "Printed\x00"}, {"tracking_number": "\ud800"}],
    ids=["NUL order_number", "NUL status", "lone surrogate"],
)
def test_tracking_notification_with_bad_text_is_422_and_nothing_is_stored(client, engine, change):
    body = {"order_number": "N-1", "tracking_status": "Printed", "tracking_number": "T1"}
    body.update(change)
    raw = json.dumps(body).encode()
    response = client.post(TRACKING, data=raw, headers=signed_headers(raw))
    assert response.status_code == 422, response.get_json()
    assert counts(engine)["inbox_events"] == 0


# --- the operations API -------------------------------------------------------------------


def movement(**changes: Any) -> dict[str, Any]:
    body = {"sku": "A", "quantity": 5, "type": "receipt", "reference": "GRN-1"}
    body.update(changes)
    return body


API_BODY_REFUSALS = [
    ("quantity at 2^31", movement(quantity=2**31), "quantity"),
    ("quantity beyond int64", movement(quantity=2**70), "quantity"),
    ("NUL in a SKU", movement(sku="A\x00"), "sku"),
    ("whitespace-only SKU", movement(sku=" \t "), "sku"),
    ("whitespace-only reference", movement(reference="   "), "reference"),
    ("whitespace-only location", movement(location="  "), "location"),
    ("lone surrogate in a reason", movement(reason="x\ud800"), "reason"),
    ("NUL in a reason", movement(reason="x\x00"), "reason"),
    ("an unknown field", movement(quantiy=5), "quantiy"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in API_BODY_REFUSALS], ids=[c[0] for c in API_BODY_REFUSALS]
)
def test_api_body_breaking_the_input_rules_is_422_naming_the_field_and_stores_nothing(
    client, engine, body, field
):
    raw = json.dumps(body).encode()  # lone surrogates travel as JSON escapes
    response = client.post(
        "/api/movements", data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["fields"]
    assert counts(engine)["stock_movements"] == 0


def test_reason_may_hold_newlines_and_tabs(client):
    response = client.post(
        "/api/movements", json=movement(reason="box 1\tok\nbox 2 dented"), headers=AUTH
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "raw", [b'{"sku": "A", "quantity": NaN}', b'{"sku": "A", "quantity": Infinity}', b"[" * 50_000]
)
def test_api_body_with_nan_or_absurd_nesting_is_400(client, raw):
    response = client.post(
        "/api/movements", data=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


QUERY_REFUSALS = [
    ("/api/orders?page=" + "9" * 30, "page"),
    ("/api/orders?per_page=" + "9" * 30, "per_page"),
    ("/api/movements?order_id=" + "9" * 25, "order_id"),
    ("/api/orders?order_numbr=N-1", "order_numbr"),
    ("/api/orders?status=PENDING&colour=red", "colour"),
    ("/api/stock?sku=%00", "sku"),
    ("/api/movements?sku=A%00B", "sku"),
    ("/api/orders?account_id=%01", "account_id"),
    ("/api/events?status=parked&acount_id=x", "acount_id"),
    ("/api/orders/99999999999999999999", "order_id"),
    ("/api/stock/A%00B", "sku"),
    ("/api/events/e%00", "event_id"),
]


@pytest.mark.parametrize(("path", "field"), QUERY_REFUSALS)
def test_query_and_path_values_breaking_the_rules_are_422_naming_them(client, path, field):
    response = client.get(path, headers=AUTH)
    assert response.status_code == 422, (response.status_code, response.get_json())
    assert field in response.get_json()["fields"]


def test_order_number_filter_narrows_the_list_instead_of_returning_everything(client):
    post_event(client, shipped_event("e1", 1, [("A", 1, None)]))
    post_event(client, shipped_event("e2", 2, [("A", 1, None)]))
    assert client.get("/api/orders?order_number=NOPE", headers=AUTH).get_json()["total"] == 0
    found = client.get("/api/orders?order_number=N-2", headers=AUTH).get_json()
    assert [o["order_id"] for o in found["items"]] == [2]


def test_a_misspelt_reconciliation_window_is_422_not_the_default_window(client, engine):
    response = client.post(
        "/api/reconciliations", json={"from": "2026-01-01T00:00:00Z"}, headers=AUTH
    )
    assert response.status_code == 422
    assert "from" in response.get_json()["fields"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM reconciliation_runs")).scalar_one() == 0


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}])
def test_release_with_an_empty_body_is_read_as_no_options(client, headers):
    post_event(client, shipped_event("e1", 1, [("A", 1, None)], event_type="order_created"))
    response = client.post("/api/orders/1/release", headers={**AUTH, **headers})
    assert response.status_code != 415
    assert response.status_code == 409  # allocation is off in this app
    assert "allocation" in response.get_json()["error"]


def test_release_with_a_body_of_another_type_is_415(client):
    response = client.post(
        "/api/orders/1/release",
        data="allow_partial=1",
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415


def test_readyz_names_no_host_role_or_sql_when_the_database_is_down(tmp_path):
    url = "postgresql+psycopg://secret_role:pw@127.0.0.1:1/secret_db"
    app = make_test_app(url, tmp_path)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    for leak in ("secret_role", "secret_db", "127.0.0.1", "SELECT", "psycopg"):
        assert leak not in text
    app.extensions["stockmirror"].db.dispose()


def test_a_value_refused_by_the_database_is_never_a_500(client):
    # Two receipts within int32 each whose balance would leave int32 on PostgreSQL.
    first = client.post("/api/movements", json=movement(quantity=2**31 - 1), headers=AUTH)
    assert first.status_code == 201
    second = client.post(
        "/api/movements", json=movement(quantity=2**31 - 1, reference="GRN-2"), headers=AUTH
    )
    assert second.status_code in (201, 422)


def test_every_signed_refusal_case_is_also_refused_when_replayed_from_a_mutation(client, engine):
    # The same rules hold when the bad value sits in the second line of a valid event.
    body = event()
    body["order"]["items"].append(copy.deepcopy(body["order"]["items"][0]) | {"sku": "B\x00"})
    response = post_event(client, body)
    assert response.status_code == 422
    assert "order.items[1].sku" in response.get_json()["fields"]


def test_a_payload_stored_with_nan_before_it_was_refused_is_served_as_valid_json(client, engine):
    post_event(client, event())
    with engine.begin() as conn:  # as a body accepted by an older version would be stored
        conn.execute(sa.text("UPDATE inbox_events SET payload = :p"), {"p": '{"weight": NaN}'})
    response = client.get("/api/events/evt-1", headers=AUTH)
    assert response.status_code == 200

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the answer")

    body = json.loads(response.get_data(as_text=True), parse_constant=refuse)
    assert body["payload"] == {"weight": None}


def test_a_chunked_api_body_over_one_mebibyte_is_413(app):
    from tests.live import chunked_post, live_server

    raw = json.dumps(movement(reason="r" * (1100 * 1024))).encode()
    with live_server(app) as base:
        status, _ = chunked_post(
            base, "/api/movements", raw, {**AUTH, "Content-Type": "application/json"}
        )
    assert status == 413
