"""Request ids, request and webhook log lines, and /metrics (CONTRACT §7), in process.

Counters live for the whole test process, so these tests compare scrapes taken before
and after what they do; values read from the database are absolute (fresh database)."""

from __future__ import annotations

import logging
import re

import pytest
import requests
import responses

from app.reconcile.domain import CATEGORIES
from app.reconcile.scheduler import JobRunner
from tests.conftest import make_test_app
from tests.helpers import AUTH, SECRET, TOKEN, post_event, shipped_event
from tests.metrics_helpers import parse, value
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeStarshipit, full_order, make_client

WEBHOOKS = "stockmirror_webhook_events_total"
DURATION = "stockmirror_http_request_duration_seconds_count"


def scrape(client):
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def access_lines(caplog):
    return [r for r in caplog.records if r.name == "app.access"]


def test_metrics_need_an_api_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_a_valid_request_id_is_returned_and_on_the_request_line(client, caplog):
    caplog.set_level(logging.INFO, logger="app.access")
    response = client.get("/api/orders?status=PENDING", headers={**AUTH, "X-Request-ID": "rq 42/a"})
    assert response.headers["X-Request-ID"] == "rq 42/a"
    [line] = access_lines(caplog)
    assert line.request_id == "rq 42/a"
    assert (line.method, line.path, line.status, line.route) == (
        "GET",
        "/api/orders",
        200,
        "/api/orders",
    )
    assert isinstance(line.duration_ms, float) and line.duration_ms >= 0
    assert "status=PENDING" not in line.getMessage()  # the query string is not logged


@pytest.mark.parametrize("given", ["x" * 129, "", "tab\there", "caf\u00e9"])
def test_a_request_id_that_is_too_long_empty_or_not_printable_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_without_a_request_id_one_is_generated_per_request(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    assert client.get("/healthz").headers["X-Request-ID"] != first


def test_every_webhook_outcome_is_counted_and_logged_with_its_event(client, caplog):
    caplog.set_level(logging.INFO, logger="app.access")
    before = scrape(client)
    ship = shipped_event("ev-ship", 1, [("SKU-A", 2, 2)], occurred_at="2026-11-20T05:00:00Z")
    outcomes = {
        "applied": post_event(client, ship),
        "duplicate": post_event(client, ship),
        "conflict": post_event(client, {**ship, "occurred_at": "2026-11-20T06:00:00Z"}),
        "stale": post_event(
            client,
            shipped_event(
                "ev-old",
                1,
                [("SKU-A", 2, None)],
                "2026-11-20T01:00:00Z",
                event_type="order_created",
            ),
        ),
        "parked": post_event(client, shipped_event("ev-bad", 2, [("SKU-B", 1, 4)])),
        "rejected": post_event(client, shipped_event("ev-forged", 3, [("SKU-C", 1, 1)]), "wrong"),
    }
    deleted = shipped_event("ev-del-1", 4, [("SKU-D", 1, None)], event_type="order_deleted")
    post_event(client, deleted)
    outcomes["ignored"] = post_event(client, {**deleted, "event_id": "ev-del-2"})
    invalid = post_event(client, {**ship, "event_id": "ev-invalid", "occurred_at": "soon"})
    after = scrape(client)

    for outcome, response in outcomes.items():
        assert response.status_code == (401 if outcome == "rejected" else 200), outcome
        if outcome != "rejected":
            assert response.json["status"] == outcome
    assert invalid.status_code == 422
    expected = {"applied": 2, "rejected": 2}  # + the first deletion; + the 422
    for outcome in outcomes:
        delta = value(after, WEBHOOKS, webhook="orders", outcome=outcome) - value(
            before, WEBHOOKS, webhook="orders", outcome=outcome
        )
        assert delta == expected.get(outcome, 1), outcome

    lines = {}
    for r in access_lines(caplog):
        if getattr(r, "webhook", None):
            lines.setdefault(r.event_id, r)  # the first line of each event
    assert lines["ev-ship"].outcome == "applied" and lines["ev-ship"].event_type == "order_shipped"
    assert not hasattr(lines["ev-ship"], "reason")
    assert lines["ev-bad"].outcome == "parked" and "exceeds" in lines["ev-bad"].reason
    assert lines["ev-invalid"].outcome == "rejected" and "occurred_at" in lines["ev-invalid"].reason
    assert lines["ev-del-2"].outcome == "ignored"
    forged = [r for r in access_lines(caplog) if r.status == 401]
    assert forged[0].outcome == "rejected" and forged[0].event_id is None  # never parsed
    assert "does not match" in forged[0].reason


def test_request_durations_are_labelled_by_route_not_by_raw_path(client):
    before = scrape(client)
    for order_id in (101, 102, 103):
        assert client.get(f"/api/orders/{order_id}", headers=AUTH).status_code == 404
    client.get("/no/such/path/9")
    after = scrape(client)
    route = "/api/orders/<int:order_id>"
    labels = {"route": route, "method": "GET", "status": "404"}
    assert value(after, DURATION, **labels) - value(before, DURATION, **labels) == 3
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, DURATION, **unmatched) - value(before, DURATION, **unmatched) == 1
    assert not [name for name, labels in after if ("route", "/api/orders/101") in labels]


def test_inbox_backlog_is_read_from_the_database(client):
    post_event(client, shipped_event("p1", 1, [("SKU-A", 1, 3)]))
    post_event(client, shipped_event("p2", 2, [("SKU-A", 1, 3)]))
    samples = scrape(client)
    assert value(samples, "stockmirror_inbox_events", status="parked") == 2
    assert value(samples, "stockmirror_inbox_events", status="pending") == 0
    assert value(samples, "stockmirror_inbox_oldest_event_timestamp_seconds", status="parked") > 0
    assert value(samples, "stockmirror_database_up") == 1


def test_scheduler_runs_of_every_process_are_counted_from_the_database(app, client):
    db = app.extensions["stockmirror"].db
    elsewhere = JobRunner(db, name="other-host:4242")
    elsewhere.run("retry", None, lambda: "nothing to do")
    elsewhere.run("retry", None, lambda: "nothing to do")

    def broken() -> str:
        raise RuntimeError("boom")

    elsewhere.run("reconcile", None, broken)
    samples = scrape(client)
    runs = "stockmirror_scheduler_runs_total"
    assert value(samples, runs, job="retry", status="done") == 2
    assert value(samples, runs, job="reconcile", status="failed") == 1
    assert value(samples, runs, job="reconcile", status="done") == 0


@pytest.fixture
def starshipit_app(database_url, tmp_path):
    application = make_test_app(
        database_url,
        tmp_path,
        starshipit_api_url=BASE,
        starshipit_api_key=API_KEY,
        starshipit_subscription_key=SUB_KEY,
        starshipit_rate_limit=1000.0,
        reconcile_async=False,
    )
    yield application
    application.extensions["stockmirror"].db.dispose()


def test_reconciliation_metrics_show_each_accounts_last_successful_run(starshipit_app):
    client = starshipit_app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        starshipit = FakeStarshipit(rsps)
        post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
        starshipit.ship(full_order(1, [("MUG", 2, 2)]))
        starshipit.ship(full_order(2, [("CUP", 1, 1)]))
        window = {"since": "2026-11-19T00:00:00Z", "until": "2026-11-22T00:00:00Z"}
        run_id = client.post("/api/reconciliations", json=window, headers=AUTH).json["id"]
    run = client.get(f"/api/reconciliations/{run_id}", headers=AUTH).json
    assert run["status"] == "done"
    samples = scrape(client)
    finished = value(
        samples, "stockmirror_reconciliation_last_success_timestamp_seconds", account="default"
    )
    from app.timeutil import parse_time

    assert finished == pytest.approx(parse_time(run["finished_at"]).timestamp())
    drift = "stockmirror_reconciliation_drift_rows"
    for category in CATEGORIES:
        count = run["summary"].get(category, 0)
        assert value(samples, drift, account="default", category=category) == count
    assert value(samples, drift, account="default", category="missing_shipment") == 1
    assert value(samples, drift, account="default", category="unknown_order") == 1
    assert value(samples, drift, account="default", category="negative_stock") == 0


def test_starshipit_requests_are_counted_by_answer(client):
    counted = "stockmirror_starshipit_requests_total"
    before = scrape(client)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{BASE}/api/orders", status=503, body="busy")
        rsps.add(responses.GET, f"{BASE}/api/orders", json={"success": True, "order": {"a": 1}})
        rsps.add(responses.GET, f"{BASE}/api/orders", body=requests.ConnectionError("down"))
        make_client().get_order(order_number="N-1")
        with pytest.raises(Exception, match="ConnectionError"):
            make_client(max_retries=0).get_order(order_number="N-2")
    after = scrape(client)
    for status, delta in (("503", 1), ("200", 1), ("connection_error", 1), ("429", 0)):
        assert value(after, counted, status=status) - value(before, counted, status=status) == delta


def test_a_scrape_while_the_database_is_down_says_so_instead_of_failing(tmp_path):
    app = make_test_app("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", tmp_path)
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    samples = parse(response.get_data(as_text=True))
    assert value(samples, "stockmirror_database_up") == 0
    assert ("stockmirror_inbox_events", frozenset({("status", "parked")})) not in samples


@pytest.mark.parametrize(("hops", "seen"), [(0, "10.0.0.5"), (1, "203.0.113.7")])
def test_the_client_address_is_taken_from_x_forwarded_for_only_behind_configured_proxies(
    database_url, tmp_path, caplog, hops, seen
):
    app = make_test_app(database_url, tmp_path, proxy_hops=hops)
    caplog.set_level(logging.INFO, logger="app.access")
    app.test_client().get(
        "/healthz",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert access_lines(caplog)[-1].remote_addr == seen
    app.extensions["stockmirror"].db.dispose()


def test_no_log_line_carries_a_secret_token_or_signature(client, caplog):
    import json

    from app.webhooks.signature import sign

    caplog.set_level(logging.INFO)
    raw = json.dumps(shipped_event("ev-1", 1, [("SKU-A", 1, 1)])).encode()
    response = post_event(client, raw)
    assert response.status_code == 200
    client.get("/api/orders", headers=AUTH)
    client.get("/api/orders", headers={"Authorization": f"Bearer {TOKEN}x"})  # refused
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "ev-1" in text
    for secret in (SECRET, TOKEN, sign(SECRET, raw)):
        assert secret not in text


def test_every_metric_docs_operations_lists_is_served_by_metrics(client):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(stockmirror_[a-z_]+)(?:\{[^}]*\})?` \|", doc, re.M))
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    served = set(re.findall(r"^# TYPE (\S+) ", response.get_data(as_text=True), re.M))

    assert len(documented) == 9
    assert documented - served == set()
