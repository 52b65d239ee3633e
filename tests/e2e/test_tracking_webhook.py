"""POST /webhooks/starshipit/tracking (CONTRACT §3): dedupe, fetch, apply; Starshipit down
then up; parked after N failures and visible; never dropped."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
import sqlalchemy as sa

from app.reconcile.tracking import retry_tracking
from app.timeutil import utcnow
from tests.conftest import make_test_app
from tests.helpers import AUTH, example, ledger, post_event, signed_headers
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeStarshipit, make_client

URL = "/webhooks/starshipit/tracking"
LATER = timedelta(days=1)


@pytest.fixture
def app_overrides():
    return {
        "starshipit_api_url": BASE,
        "starshipit_api_key": API_KEY,
        "starshipit_subscription_key": SUB_KEY,
        "starshipit_rate_limit": 1000.0,
        "tracking_max_attempts": 3,
    }


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeStarshipit(rsps)
        order = json.loads(json.dumps(example("starshipit_get_order")["order"]))
        fake.orders[order["order_id"]] = order
        yield fake


def post_tracking(client, body, **query):
    raw = json.dumps(body).encode()
    url = URL + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return client.post(url, data=raw, headers=signed_headers(raw))


def created(client):
    body = example("order_created")
    body["account_id"] = "default"
    assert post_event(client, body).json["status"] == "applied"


def inbox_rows(engine):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT event_id, status, attempts, reason, next_attempt_at FROM inbox_events "
                "WHERE source = 'tracking'"
            )
        ).all()


def test_printed_label_fetches_the_order_and_applies_it_as_shipped(client, engine, starshipit):
    created(client)

    response = post_tracking(client, example("tracking_printed"))

    assert response.status_code == 200
    assert response.json["status"] == "applied"
    assert response.json["event_id"].startswith("trk:")
    assert starshipit.detail_calls == ["order_number=KH-20931"]
    assert ledger(engine) == {"CNDL-KWK-200": -4, "WICK-TRIM-BR": -2}
    order = client.get("/api/orders/2147483702", headers=AUTH).json
    assert order["status"] == "SHIPPED"
    with engine.connect() as conn:
        cited = conn.execute(sa.text("SELECT DISTINCT event_id FROM stock_movements")).scalars()
        assert list(cited) == [response.json["event_id"]]


def test_same_tracking_update_again_is_a_duplicate_with_no_second_fetch(client, starshipit):
    created(client)
    post_tracking(client, example("tracking_printed"))

    again = post_tracking(client, example("tracking_printed"))

    assert again.json["status"] == "duplicate"
    assert len(starshipit.detail_calls) == 1


def test_same_tracking_update_with_reordered_keys_is_a_duplicate_not_a_conflict(
    client, engine, starshipit
):
    created(client)
    body = example("tracking_printed")
    post_tracking(client, body)
    raw = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()

    again = client.post(URL, data=raw, headers=signed_headers(raw))

    assert again.json["status"] == "duplicate"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM event_conflicts")).scalar() == 0


def test_cancelled_label_is_stored_and_ignored_without_a_fetch(client, engine, starshipit):
    body = example("tracking_printed") | {"tracking_status": "Cancelled"}

    assert post_tracking(client, body).json["status"] == "ignored"
    assert starshipit.detail_calls == []
    assert [r.status for r in inbox_rows(engine)] == ["ignored"]


def test_order_already_fully_shipped_needs_no_fetch(client, engine, starshipit):
    created(client)
    post_tracking(client, example("tracking_printed"))
    delivered = example("tracking_printed") | {
        "tracking_status": "Delivered",
        "last_updated_date": "2026-11-22T09:00:00Z",
    }

    assert post_tracking(client, delivered).json["status"] == "ignored"
    assert len(starshipit.detail_calls) == 1


def test_starshipit_down_keeps_the_work_and_a_later_retry_applies_it(
    app, client, engine, starshipit
):
    created(client)
    starshipit.down = True

    response = post_tracking(client, example("tracking_printed"))

    assert response.status_code == 200
    assert response.json["status"] == "parked"
    assert "503" in response.json["reason"]
    [row] = inbox_rows(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at is not None
    assert ledger(engine) == {}
    db = app.extensions["stockmirror"].db
    assert retry_tracking(db, make_client(), max_attempts=3) == []  # not due yet

    starshipit.down = False
    [outcome] = retry_tracking(db, make_client(), max_attempts=3, now=utcnow() + LATER)

    assert outcome.status == "applied"
    assert ledger(engine) == {"CNDL-KWK-200": -4, "WICK-TRIM-BR": -2}
    assert inbox_rows(engine)[0].status == "applied"


def test_after_n_failures_the_work_is_parked_visible_and_can_be_retried_by_hand(
    app, client, engine, starshipit
):
    created(client)
    starshipit.down = True
    post_tracking(client, example("tracking_printed"))
    db = app.extensions["stockmirror"].db
    for _ in range(2):
        retry_tracking(db, make_client(max_retries=0), max_attempts=3, now=utcnow() + LATER)

    [row] = inbox_rows(engine)
    assert (row.status, row.attempts) == ("parked", 3)
    assert "gave up after 3 attempts" in row.reason
    parked = client.get("/api/events?status=parked", headers=AUTH).json["items"]
    assert [(e["source"], e["event_id"]) for e in parked] == [("tracking", row.event_id)]
    assert retry_tracking(db, make_client(), max_attempts=3, now=utcnow() + LATER) == []

    starshipit.down = False
    retried = client.post(f"/api/tracking-events/{row.event_id}/retry", headers=AUTH)

    assert retried.status_code == 200
    assert retried.json["status"] == "applied"
    assert ledger(engine) == {"CNDL-KWK-200": -4, "WICK-TRIM-BR": -2}


def test_tracking_for_an_order_starshipit_does_not_know_is_kept_not_dropped(
    client, engine, starshipit
):
    body = example("tracking_printed") | {"order_number": "NOPE-1"}

    response = post_tracking(client, body)

    assert response.json["status"] == "parked"
    assert "Order not found" in response.json["reason"]
    assert inbox_rows(engine)[0].status == "pending"


def test_without_starshipit_keys_tracking_work_waits_instead_of_being_dropped(
    database_url, tmp_path
):
    app = make_test_app(database_url, tmp_path)
    response = post_tracking(app.test_client(), example("tracking_printed"))
    assert response.status_code == 200
    assert "not configured" in response.json["reason"]
    engine = app.extensions["stockmirror"].db.engine
    assert inbox_rows(engine)[0].status == "pending"
    app.extensions["stockmirror"].db.dispose()


def test_tracking_body_without_order_number_is_422_and_nothing_is_stored(client, engine):
    body = example("tracking_printed")
    del body["order_number"]

    response = post_tracking(client, body)

    assert response.status_code == 422
    assert "order_number" in response.json["fields"]
    assert inbox_rows(engine) == []


def test_unsigned_tracking_is_401_and_nothing_is_stored(client, engine):
    raw = json.dumps(example("tracking_printed")).encode()
    response = client.post(URL, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert inbox_rows(engine) == []
