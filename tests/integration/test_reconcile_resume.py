"""A flaky Starshipit (CONTRACT §4): transient faults are retried; a run that fails or
whose process dies keeps its finished pages, shows as interrupted once its lease runs
out, and resumes from its first unfinished page; one running run per account."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import responses
import sqlalchemy as sa

from app.reconcile.client import StarshipitUnavailable
from app.reconcile.service import (
    ResumeRefused,
    RunConflict,
    execute_run,
    resume_run,
    run_reconciliation,
    start_run,
)
from app.timeutil import utcnow
from tests.helpers import AUTH, post_event, shipped_event
from tests.reconcile_fake import STARSHIPIT_SETTINGS, FakeClock, FakeStarshipit, make_client

SINCE = datetime(2026, 11, 19, tzinfo=UTC)
UNTIL = datetime(2026, 11, 22, tzinfo=UTC)
WINDOW = {"since": "2026-11-19T00:00:00Z", "until": "2026-11-22T00:00:00Z"}


@pytest.fixture
def app_overrides():
    return STARSHIPIT_SETTINGS | {"reconcile_async": False}


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps, page_size=2)


@pytest.fixture
def db(app):
    return app.extensions["stockmirror"].db


def six_orders(client, starshipit) -> set[tuple[str, int]]:
    """Three shipped pages of two orders; orders 1, 4 and 6 were never shipped in the
    ledger. Returns the drift a full run must find, as (category, order_id)."""
    client.post(
        "/api/movements",
        json={"sku": "MUG", "quantity": 50, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    for oid in range(1, 7):
        kind = "order_created" if oid in (1, 4, 6) else "order_shipped"
        post_event(client, shipped_event(f"e{oid}", oid, [("MUG", 1, None)], event_type=kind))
        starshipit.ship(full(oid))
    return {("missing_shipment", 1), ("missing_shipment", 4), ("missing_shipment", 6)}


def full(order_id: int) -> dict:
    return {
        "order_id": order_id,
        "order_number": f"N-{order_id}",
        "status": "Shipped",
        "items": [{"sku": "MUG", "quantity": 1, "quantity_shipped": 1}],
    }


def run_row(db, run_id: int):
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT status, error, progress, pages, api_calls, lease_until "
                "FROM reconciliation_runs WHERE id = :id"
            ),
            {"id": run_id},
        ).one()
        drift = conn.execute(
            sa.text("SELECT category, order_id FROM reconciliation_drift WHERE run_id = :id"),
            {"id": run_id},
        ).all()
    progress = row.progress if isinstance(row.progress, dict) else json.loads(row.progress)
    return row, progress, Counter((d.category, d.order_id) for d in drift)


def test_every_kind_of_transient_fault_is_retried_and_the_run_still_finds_every_drift(
    client, db, starshipit
):
    expected = six_orders(client, starshipit)
    faults = iter(
        [
            (503, "busy"),
            (429, {"statusCode": 429, "message": "Rate limit is exceeded"}),
            (200, {"success": False, "errors": [{"message": "An error has occurred"}]}),
            (200, {"statusCode": 503, "message": "Service unavailable"}),
        ]
    )
    calls = Counter()

    def flaky(request):
        calls["n"] += 1
        return next(faults, None) if calls["n"] % 2 else None  # every other call, 4 times

    starshipit.fault = flaky
    clock = FakeClock()

    run_id = run_reconciliation(db, make_client(clock), since=SINCE, until=UNTIL)

    row, _, drift = run_row(db, run_id)
    assert row.status == "done"
    assert set(drift) == expected and max(drift.values()) == 1
    backoffs = [s for s in clock.sleeps if s >= 0.1]  # (the rate limit's waits are 1 ms)
    assert len(backoffs) == 4  # each fault waited, then was retried


def test_a_failed_run_keeps_its_pages_and_resumes_from_the_first_unfinished_one(
    client, db, starshipit
):
    expected = six_orders(client, starshipit)
    starshipit.fault = lambda r: (503, "down") if "page=2" in r.url and "shipped" in r.url else None

    with pytest.raises(StarshipitUnavailable):
        run_reconciliation(db, make_client(max_retries=1), since=SINCE, until=UNTIL)

    run_id = 1
    row, progress, drift = run_row(db, run_id)
    assert row.status == "failed"
    assert row.error.startswith("Starshipit: GET /api/orders/shipped: 503")
    assert (progress["phase"], progress["page"]) == ("shipped", 2)
    assert set(drift) == {("missing_shipment", 1)}  # page 1's finding is kept
    assert row.pages == 1

    starshipit.fault = None
    starshipit.page_calls.clear()
    claim = resume_run(db, run_id)
    execute_run(db, make_client(), claim)

    row, progress, drift = run_row(db, run_id)
    assert row.status == "done"
    assert set(drift) == expected and max(drift.values()) == 1  # nothing twice
    assert starshipit.page_calls[0] == ("/api/orders/shipped", 2)  # not from page 1
    assert ("/api/orders/shipped", 1) not in starshipit.page_calls
    assert progress["resumes"] == 1


class Died(BaseException):
    """The process is killed: nothing in it gets to record anything."""


def test_a_run_whose_process_died_shows_interrupted_once_its_lease_runs_out_and_resumes(
    client, db, engine, starshipit
):
    expected = six_orders(client, starshipit)

    def die_on_page_3(request):
        if "page=3" in request.url and "shipped" in request.url:
            raise Died()

    starshipit.fault = die_on_page_3
    with pytest.raises(Died):
        run_reconciliation(db, make_client(), since=SINCE, until=UNTIL)

    assert client.get("/api/reconciliations/1", headers=AUTH).json["status"] == "running"
    conflict = client.post("/api/reconciliations", json=WINDOW, headers=AUTH)
    assert conflict.status_code == 409
    assert conflict.json["id"] == 1
    early = client.post("/api/reconciliations/1/resume", headers=AUTH)
    assert early.status_code == 409  # its lease is still live: it may be running

    with engine.begin() as conn:  # the lease is no longer renewed: time passes
        conn.execute(
            sa.text("UPDATE reconciliation_runs SET lease_until = :t"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
    assert client.get("/api/reconciliations/1", headers=AUTH).json["status"] == "interrupted"
    listed = client.get("/api/reconciliations", headers=AUTH).json["items"]
    assert [r["status"] for r in listed] == ["interrupted"]

    starshipit.fault = None
    starshipit.page_calls.clear()
    resumed = client.post("/api/reconciliations/1/resume", headers=AUTH)

    assert resumed.status_code == 202, resumed.json
    report = client.get("/api/reconciliations/1", headers=AUTH).json
    assert report["status"] == "done"
    assert {(d["category"], d["order_id"]) for d in report["drift"]} == expected
    assert len(report["drift"]) == len(expected)
    assert starshipit.page_calls[0] == ("/api/orders/shipped", 3)
    assert client.post("/api/reconciliations/1/resume", headers=AUTH).status_code == 409


def test_one_running_run_per_account_and_other_accounts_are_free(db):
    first = start_run(db, account_id="default", since=SINCE, until=UNTIL, trigger="cli")

    with pytest.raises(RunConflict) as conflict:
        start_run(db, account_id="default", since=SINCE, until=UNTIL, trigger="cli")
    assert conflict.value.running_id == first.run_id
    other = start_run(db, account_id="acme", since=SINCE, until=UNTIL, trigger="cli")
    assert other.run_id != first.run_id


def test_resume_refuses_done_runs_and_unknown_ones(client, db, starshipit):
    run_id = run_reconciliation(db, make_client(), since=SINCE, until=UNTIL)
    with pytest.raises(ResumeRefused, match="is done"):
        resume_run(db, run_id)
    with pytest.raises(LookupError):
        resume_run(db, 999)
    assert client.post("/api/reconciliations/999/resume", headers=AUTH).status_code == 404


def test_a_failed_runs_error_is_a_short_reason_without_sql_or_hosts(client, db, starshipit):
    def broken(request):
        raise ValueError("SELECT * FROM orders WHERE secret = 'customer address'")

    starshipit.fault = broken
    with pytest.raises(ValueError):
        run_reconciliation(db, make_client(), since=SINCE, until=UNTIL)

    report = client.get("/api/reconciliations/1", headers=AUTH).json
    assert report["status"] == "failed"
    assert report["error"].startswith("internal error (error id ")
    page = client.get("/api/reconciliations/1.html", headers=AUTH).get_data(as_text=True)
    assert "SELECT" not in page and "customer address" not in page
