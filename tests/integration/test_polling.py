"""Polling mode: unshipped orders flow through the webhook path, with a durable cursor."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import responses
import sqlalchemy as sa

from app.db import Database
from app.reconcile.client import StarshipitUnavailable
from app.reconcile.polling import poll_account
from app.timeutil import parse_time
from tests.helpers import AUTH, post_event, shipped_event
from tests.reconcile_fake import FakeStarshipit, full_order, make_client


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


@pytest.fixture
def db(app):
    return app.extensions["stockmirror"].db


def poll(db):
    return poll_account(db, make_client())


def inbox_count(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT COUNT(*) FROM inbox_events")).scalar_one())


def since_param(starshipit_call) -> str:
    return parse_qs(urlparse(starshipit_call.request.url).query)["since_last_updated"][0]


def test_new_unshipped_order_is_mirrored_through_the_webhook_path(client, db, engine, starshipit):
    starshipit.add_unshipped(full_order(11, [("MUG", 2, None)], status="Unshipped"))

    result = poll(db)

    assert (result.seen, result.created, result.changed) == (1, 1, 0)
    order = client.get("/api/orders/11", headers=AUTH).json
    assert order["status"] == "PENDING"
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [("MUG", 2)]
    events = client.get("/api/events", headers=AUTH).json["items"]
    assert [e["event_type"] for e in events] == ["order_created"]
    assert events[0]["event_id"].startswith("poll:11:")


def test_unchanged_orders_are_not_applied_again_and_changed_ones_are(
    client, db, engine, starshipit
):
    order = full_order(11, [("MUG", 2, None)], status="Unshipped")
    starshipit.add_unshipped(order)
    poll(db)

    assert poll(db).unchanged == 1
    assert inbox_count(engine) == 1

    order["items"][0]["quantity"] = 5
    result = poll(db)

    assert result.changed == 1
    lines = client.get("/api/orders/11", headers=AUTH).json["lines"]
    assert [(line["sku"], line["quantity"]) for line in lines] == [("MUG", 5)]


def test_polled_state_counts_as_newer_than_what_the_mirror_applied(client, db, starshipit):
    future = shipped_event(
        "e1", 12, [("MUG", 1, None)], occurred_at="2099-01-01T00:00:00Z", event_type="order_created"
    )
    post_event(client, future)
    starshipit.add_unshipped(full_order(12, [("MUG", 4, None)], status="Unshipped"))

    assert poll(db).changed == 1
    lines = client.get("/api/orders/12", headers=AUTH).json["lines"]
    assert [(line["sku"], line["quantity"]) for line in lines] == [("MUG", 4)]


def test_cursor_survives_a_restart_and_next_poll_starts_from_it(db, starshipit):
    first = poll(db)
    restarted = Database(db.url)  # a new process would build a new Database
    try:
        poll_account(restarted, make_client())
    finally:
        restarted.dispose()

    asked = parse_time(since_param(starshipit.rsps.calls[-1]))
    assert asked == first.cursor - timedelta(minutes=5)


def test_failed_poll_leaves_the_cursor_where_it_was(db, starshipit):
    first = poll(db)
    starshipit.down = True

    with pytest.raises(StarshipitUnavailable):
        poll_account(db, make_client(max_retries=0))

    starshipit.down = False
    assert (first.cursor - poll(db).since).total_seconds() == 300
