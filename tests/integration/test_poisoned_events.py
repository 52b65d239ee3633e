"""A stored event the database refuses never answers 500 and never blocks the retry job;
parked events can be discarded for good (CONTRACT §2)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import responses
import sqlalchemy as sa
from click.testing import CliRunner

from app.cli import main
from app.reconcile.tracking import SOURCE
from app.timeutil import as_utc, parse_time, utcnow
from tests.db_refusal import refusing
from tests.helpers import AUTH, ledger, post_event, shipped_event
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeStarshipit, full_order

SQL_WORDS = ("INSERT", "SELECT", "UPDATE", "order_lines", "[SQL", "parameters", "refused by")


@pytest.fixture
def poison(engine):
    """The database refuses any order line with SKU POISON."""
    with refusing(engine, "order_lines", "NEW.sku = 'POISON'"):
        yield


def store_parked(engine, event_id: str, document: dict, *, order_id: int = 1) -> None:
    """A parked event as the inbox keeps it (inserted directly: its payload is what a
    webhook once delivered)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO inbox_events (account_id, event_id, source, event_type, "
                "occurred_at, order_id, order_number, body_sha256, payload, status, reason, "
                "attempts, received_at) VALUES ('default', :e, 'orders', :t, :at, :o, :n, "
                "'x', :p, 'parked', 'stored for the test', 1, :at)"
            ),
            {
                "e": event_id,
                "t": document["event_type"],
                "at": utcnow() - timedelta(hours=1),
                "o": order_id,
                "n": f"N-{order_id}",
                "p": json.dumps(document),
            },
        )


def inbox(engine, event_id: str):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT status, reason, attempts, next_attempt_at, discarded_by, discard_reason "
                "FROM inbox_events WHERE event_id = :e"
            ),
            {"e": event_id},
        ).one()


def assert_short(reason: str) -> None:
    assert len(reason) < 200, reason
    assert not any(word in reason for word in SQL_WORDS), reason
    assert "POISON" not in reason, reason


def test_a_webhook_event_the_database_refuses_is_parked_with_a_short_reason(client, engine, poison):
    response = post_event(client, shipped_event("e1", 1, [("POISON", 1, None)]))

    assert response.status_code == 200
    assert response.json["status"] == "parked"
    assert response.json["reason"].startswith("the database refused the change (error id ")
    assert_short(inbox(engine, "e1").reason)
    assert ledger(engine) == {}


def test_replaying_a_poisoned_event_answers_200_parked_with_a_new_reason_and_next_attempt(
    client, engine, poison
):
    store_parked(engine, "bad", shipped_event("bad", 1, [("POISON", 1, None)]))

    response = client.post("/api/events/bad/replay", headers=AUTH)

    assert response.status_code == 200, response.json
    assert response.json["outcome"] == "parked"
    row = inbox(engine, "bad")
    assert (row.status, row.attempts) == ("parked", 2)
    assert_short(row.reason)
    assert row.reason.startswith("the database refused the change (error id ")
    assert row.next_attempt_at is not None
    assert ledger(engine) == {}


def test_a_stored_payload_with_text_no_database_can_hold_is_parked_not_a_500(client, engine):
    document = shipped_event("lone", 1, [("MUG", 1, None)])
    document["order"]["items"][0]["description"] = "\ud800"  # a lone surrogate
    store_parked(engine, "lone", document)

    response = client.post("/api/events/lone/replay", headers=AUTH)

    assert response.status_code == 200, response.json
    assert response.json["outcome"] == "parked"
    assert_short(inbox(engine, "lone").reason)


def test_the_retry_job_keeps_going_past_a_poisoned_event(app, client, engine, poison):
    from app.reconcile.jobs import retry_job
    from app.reconcile.scheduler import JobRunner

    receive = {"sku": "MUG", "quantity": 5, "type": "receipt", "reference": "r1"}
    client.post("/api/movements", json=receive, headers=AUTH)
    store_parked(engine, "bad", shipped_event("bad", 1, [("POISON", 1, None)]), order_id=1)
    store_parked(engine, "good", shipped_event("good", 2, [("MUG", 2, None)]), order_id=2)
    tracking_due(engine)
    db = app.extensions["stockmirror"].db
    settings = app.extensions["stockmirror"].settings.with_overrides(
        starshipit_api_url=BASE, starshipit_api_key=API_KEY, starshipit_subscription_key=SUB_KEY
    )
    runner = JobRunner(db, "test")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeStarshipit(rsps)
        fake.orders[3] = full_order(3, [("MUG", 1, 1)], number="N-3")
        status = runner.run("retry", None, lambda: retry_job(settings, db))

    assert status == "done"
    assert runner.last.attention  # one event is still parked
    assert "1 events still parked" in runner.last.detail
    assert inbox(engine, "good").status == "applied"
    assert inbox(engine, "trk-1").status == "applied"  # tracking retries still ran
    bad = inbox(engine, "bad")
    assert (bad.status, bad.attempts) == ("parked", 2)
    assert as_time(bad.next_attempt_at) > utcnow()  # not retried again until then
    assert ledger(engine) == {"MUG": 5 - 2 - 1}
    again = runner.run("retry", None, lambda: retry_job(settings, db))
    assert again == "done"
    assert inbox(engine, "bad").attempts == 2  # waits for its next attempt time


def as_time(value) -> datetime:
    return parse_time(value) if isinstance(value, str) else as_utc(value)


def tracking_due(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO inbox_events (account_id, event_id, source, event_type, "
                "order_number, body_sha256, payload, status, attempts, received_at, "
                "next_attempt_at) VALUES ('default', 'trk-1', :s, 'tracking', 'N-3', 'x', "
                "'{}', 'pending', 1, :at, :at)"
            ),
            {"s": SOURCE, "at": utcnow() - timedelta(minutes=1)},
        )


def test_a_parked_event_can_be_discarded_for_good_with_who_and_why(client, engine):
    store_parked(engine, "old", shipped_event("old", 1, [("MUG", 1, 5)]))

    response = client.post(
        "/api/events/old/discard", json={"reason": "  duplicate of NZ-1 "}, headers=AUTH
    )

    assert response.status_code == 200, response.json
    assert response.json["status"] == "discarded"
    assert response.json["discarded"]["reason"] == "duplicate of NZ-1"
    assert response.json["discarded"]["by"].startswith("api token ")
    row = inbox(engine, "old")
    assert (row.status, row.discard_reason) == ("discarded", "duplicate of NZ-1")
    assert "test-api-token" not in row.discarded_by
    listed = client.get("/api/events?status=discarded", headers=AUTH).json["items"]
    assert [e["event_id"] for e in listed] == ["old"]
    assert client.post("/api/events/old/replay", headers=AUTH).status_code == 409
    assert (
        client.post("/api/events/old/discard", json={"reason": "again"}, headers=AUTH).status_code
        == 409
    )
    assert client.get("/api/events?status=parked", headers=AUTH).json["total"] == 0


def test_discard_needs_a_reason_and_a_parked_event(client, engine):
    post_event(client, shipped_event("fine", 1, [("MUG", 1, None)]))
    store_parked(engine, "p", shipped_event("p", 2, [("MUG", 1, 5)]), order_id=2)

    assert client.post("/api/events/p/discard", json={}, headers=AUTH).status_code == 422
    blank = client.post("/api/events/p/discard", json={"reason": "   "}, headers=AUTH)
    assert blank.status_code == 422
    applied = client.post("/api/events/fine/discard", json={"reason": "x"}, headers=AUTH)
    assert applied.status_code == 409
    missing = client.post("/api/events/nope/discard", json={"reason": "x"}, headers=AUTH)
    assert missing.status_code == 404
    assert inbox(engine, "p").status == "parked"


@pytest.fixture
def env(database_url, tmp_path):
    return {"DATABASE_URL": database_url, "STOCKMIRROR_INSTANCE_PATH": str(tmp_path / "i")}


def test_cli_discard_and_replay_exit_codes(client, engine, env, poison):
    store_parked(engine, "bad", shipped_event("bad", 1, [("POISON", 1, None)]))
    runner = CliRunner()

    replayed = runner.invoke(main, ["events", "replay", "bad"], env=env)
    assert replayed.exit_code == 1, replayed.output  # still parked: something to act on
    assert "bad: parked (the database refused the change" in replayed.output

    unknown = runner.invoke(main, ["events", "discard", "nope", "--reason", "x"], env=env)
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: no event 'nope'")

    done = runner.invoke(main, ["events", "discard", "bad", "--reason", "bad data"], env=env)
    assert done.exit_code == 0, done.output
    assert "bad: discarded by cli " in done.output
    assert inbox(engine, "bad").discard_reason == "bad data"

    refused = runner.invoke(main, ["events", "replay", "bad"], env=env)
    assert refused.exit_code == 2
    assert "only parked or pending events replay" in refused.stderr
    assert runner.invoke(main, ["events", "replay", "--all"], env=env).exit_code == 0
