"""POST /webhooks/starshipit/orders: every row of CONTRACT §2's response table."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.conftest import make_test_app
from tests.helpers import SECRET, example, ledger, post_event, shipped_event, signed_headers

URL = "/webhooks/starshipit/orders"


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def nothing_stored(engine: sa.Engine) -> bool:
    return all(
        count(engine, t) == 0
        for t in ("inbox_events", "event_conflicts", "orders", "stock_movements")
    )


def test_signed_event_is_applied_and_answered_with_its_id(client, engine):
    body = example("order_created")
    response = post_event(client, body)
    assert response.status_code == 200
    assert response.json == {"status": "applied", "event_id": body["event_id"]}
    assert count(engine, "inbox_events") == 1
    assert count(engine, "orders") == 1


def test_redelivered_event_is_a_duplicate_with_no_effect(client, engine):
    body = example("order_shipped_full")
    assert post_event(client, body).json["status"] == "applied"
    again = post_event(client, body)
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "event_id": body["event_id"]}
    assert ledger(engine) == {"CNDL-KWK-200": -4, "WICK-TRIM-BR": -2}
    assert count(engine, "stock_movements") == 2


def test_redelivery_with_reordered_keys_is_still_a_duplicate(client, engine):
    body = example("order_created")
    post_event(client, body)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    assert post_event(client, reordered).json["status"] == "duplicate"


def test_same_event_id_with_different_body_is_kept_as_conflict_and_not_applied(client, engine):
    original = shipped_event("evt-x", 1, [("SKU-A", 2, None)])
    assert post_event(client, original).json["status"] == "applied"
    different = shipped_event("evt-x", 1, [("SKU-A", 5, None)])
    response = post_event(client, different)
    assert response.status_code == 200
    assert response.json["status"] == "conflict"
    assert response.json["event_id"] == "evt-x"
    assert ledger(engine) == {"SKU-A": -2}
    assert count(engine, "event_conflicts") == 1
    listed = client.get("/api/event-conflicts", headers={"Authorization": "Bearer test-api-token"})
    assert listed.json["items"][0]["payload"]["order"]["items"][0]["quantity"] == 5


def test_older_content_event_is_answered_stale(client):
    post_event(client, example("order_changed"))
    created = example("order_created")
    stale = post_event(client, created)
    assert stale.json == {"status": "stale", "event_id": created["event_id"]}


def test_second_deletion_of_a_deleted_order_is_ignored(client):
    deleted = example("order_deleted")
    assert post_event(client, deleted).json["status"] == "applied"
    later = dict(deleted, event_id="evt_second_deletion", occurred_at="2026-11-20T05:00:00Z")
    assert post_event(client, later).json["status"] == "ignored"


def test_event_that_cannot_be_applied_is_parked_with_its_reason(client, engine):
    body = shipped_event("evt-bad", 9, [("SKU-A", 1, 3)])
    response = post_event(client, body)
    assert response.status_code == 200
    assert response.json["status"] == "parked"
    assert "quantity_shipped 3 exceeds quantity 1" in response.json["reason"]
    assert count(engine, "stock_movements") == 0
    parked = client.get(
        "/api/events?status=parked", headers={"Authorization": "Bearer test-api-token"}
    ).json
    assert parked["total"] == 1
    assert parked["items"][0]["event_id"] == "evt-bad"
    assert "exceeds" in parked["items"][0]["reason"]


def test_body_that_is_not_json_is_400_and_nothing_is_stored(client, engine):
    raw = b"{not json"
    response = client.post(URL, data=raw, headers=signed_headers(raw))
    assert response.status_code == 400
    assert "not valid JSON" in response.json["error"]
    assert nothing_stored(engine)


def test_missing_signature_is_401_and_nothing_is_stored(client, engine):
    raw = json.dumps(example("order_created")).encode()
    response = client.post(URL, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert "X-Starshipit-Signature" in response.json["error"]
    assert nothing_stored(engine)


def test_wrong_signature_is_401_and_nothing_is_stored(client, engine):
    raw = json.dumps(example("order_created")).encode()
    response = client.post(URL, data=raw, headers=signed_headers(raw, "another-secret"))
    assert response.status_code == 401
    assert nothing_stored(engine)


def test_signature_over_different_bytes_is_401(client, engine):
    raw = json.dumps(example("order_created")).encode()
    headers = signed_headers(raw)
    response = client.post(URL, data=raw + b" ", headers=headers)
    assert response.status_code == 401
    assert nothing_stored(engine)


def test_any_configured_secret_verifies_during_rotation(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path, webhook_secrets=("old-secret", "new-secret"))
    client = app.test_client()
    for secret, event_id in (("old-secret", "e1"), ("new-secret", "e2")):
        body = shipped_event(event_id, 5, [("SKU-A", 1, None)], event_type="order_created")
        assert post_event(client, body, secret=secret).json["status"] in ("applied", "stale")
    app.extensions["stockmirror"].db.dispose()


def test_body_over_one_mebibyte_is_413_and_nothing_is_stored(client, engine):
    body = example("order_created")
    body["order"]["padding"] = "x" * (1024 * 1024)
    raw = json.dumps(body).encode()
    response = client.post(URL, data=raw, headers=signed_headers(raw))
    assert response.status_code == 413
    assert "1 MiB" in response.json["error"]
    assert nothing_stored(engine)


def test_non_json_content_type_is_415_and_nothing_is_stored(client, engine):
    raw = json.dumps(example("order_created")).encode()
    headers = signed_headers(raw) | {"Content-Type": "text/plain"}
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json["error"]
    assert nothing_stored(engine)


def test_invalid_envelope_is_422_naming_each_field(client, engine):
    body = example("order_created")
    del body["event_id"]
    body["event_type"] = "order_exploded"
    body["order"]["items"][1]["quantity"] = -1
    body["order"]["items"][2]["sku"] = "x" * 51  # (an empty sku is a non-stock line)
    response = post_event(client, body)
    assert response.status_code == 422
    fields = response.json["fields"]
    assert set(fields) == {
        "event_id",
        "event_type",
        "order.items[1].quantity",
        "order.items[2].sku",
    }
    assert "event_id" in response.json["error"]
    assert nothing_stored(engine)


def test_missing_order_number_and_items_are_422_except_on_deletion(client, engine):
    body = example("order_created")
    del body["order"]["order_number"]
    del body["order"]["items"]
    response = post_event(client, body)
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"order.order_number", "order.items"}
    deletion = example("order_deleted")
    del deletion["order"]["order_number"]
    assert post_event(client, deletion).json["status"] == "applied"


def test_order_id_must_be_a_64_bit_integer(client, engine):
    for bad in ("2147483702", 2**64, 1.5, True, None):
        body = example("order_created")
        body["order"]["order_id"] = bad
        response = post_event(client, body)
        assert response.status_code == 422, bad
        assert "order.order_id" in response.json["fields"]
    assert nothing_stored(engine)


def test_occurred_at_must_be_a_time(client, engine):
    body = example("order_created")
    body["occurred_at"] = "yesterday"
    response = post_event(client, body)
    assert response.status_code == 422
    assert "occurred_at" in response.json["fields"]


def test_body_that_is_a_json_array_is_422(client, engine):
    response = post_event(client, b"[1, 2]")
    assert response.status_code == 422
    assert nothing_stored(engine)


def test_unknown_fields_are_ignored(client):
    body = example("order_created")
    body["surprise"] = {"nested": True}
    body["order"]["metadatas"] = [{"key": "x"}]
    body["order"]["items"][0]["colour"] = "blue"
    assert post_event(client, body).json["status"] == "applied"


def test_unconfigured_secret_is_503_and_never_processes_unsigned(database_url, tmp_path):
    app = make_test_app(database_url, tmp_path, webhook_secrets=())
    client = app.test_client()
    raw = json.dumps(example("order_created")).encode()
    response = client.post(URL, data=raw, headers=signed_headers(raw, SECRET))
    assert response.status_code == 503
    assert response.json["error"] == "webhook secret not configured"
    engine = app.extensions["stockmirror"].db.engine
    assert nothing_stored(engine)
    app.extensions["stockmirror"].db.dispose()


def test_unreachable_database_is_503_so_starshipit_retries(tmp_path):
    app = make_test_app("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path)
    client = app.test_client()
    response = post_event(client, example("order_created"))
    assert response.status_code == 503
    assert "retry" in response.json["error"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    app.extensions["stockmirror"].db.dispose()


def test_locked_sqlite_database_is_503_not_500(tmp_path):
    import sqlite3

    from app.migrate import upgrade

    path = tmp_path / "locked.db"
    upgrade(f"sqlite:///{path}")
    app = make_test_app(f"sqlite:///{path}", tmp_path)
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        database = app.extensions["stockmirror"].db
        database.engine.dispose()
        # Let the busy timeout expire quickly for this test only.
        import sqlalchemy.event

        @sqlalchemy.event.listens_for(database.engine, "connect")
        def _short_timeout(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA busy_timeout=50")

        response = post_event(app.test_client(), example("order_created"))
        assert response.status_code == 503
    finally:
        holder.rollback()
        holder.close()
    with sa.create_engine(f"sqlite:///{path}").connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM inbox_events")).scalar_one() == 0
    app.extensions["stockmirror"].db.dispose()


def test_unsigned_get_is_405_json(client: FlaskClient):
    response = client.get(URL)
    assert response.status_code == 405
    assert "error" in response.json
