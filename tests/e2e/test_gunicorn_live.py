"""A live gunicorn server with the shipped config (two workers, JSON logs, multiprocess
metrics): every line it writes is a JSON object with the contract's fields and no secret,
and one scrape of /metrics shows what the test did, summed over the workers."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from app.reconcile.domain import CATEGORIES
from app.timeutil import parse_time
from app.webhooks.signature import sign
from tests.helpers import shipped_event
from tests.live import BIN, ROOT, StarshipitServer, clean_env, free_port, live
from tests.metrics_helpers import parse, value
from tests.reconcile_fake import full_order

SECRET = "live-webhook-secret-8c1f"
TOKEN = "live-api-token-93be"
API_KEY, SUB_KEY = "live-starshipit-key-77aa", "live-subscription-key-55bb"
TIMEOUT = 60


class Server:
    def __init__(self, base: str) -> None:
        self.base = base
        self.signatures: list[str] = []

    def event(self, body: dict | bytes, secret: str = SECRET, webhook: str = "orders", **headers):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        signature = sign(secret, raw)
        self.signatures.append(signature)
        return requests.post(
            f"{self.base}/webhooks/starshipit/{webhook}",
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Starshipit-Signature": signature,
                **headers,
            },
            timeout=TIMEOUT,
        )

    def api(self, path: str, **headers):
        auth = {"Authorization": f"Bearer {TOKEN}", **headers}
        return requests.get(f"{self.base}{path}", headers=auth, timeout=TIMEOUT)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "stockmirror"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def starshipit():
    with StarshipitServer(API_KEY, SUB_KEY) as fake:
        fake.orders.append(full_order(500, [("SKU-T", 2, 2)]))
        fake.orders.append(full_order(501, [("SKU-U", 1, 1)]))  # never mirrored: drift
        yield fake


def test_gunicorn_writes_only_json_lines_without_secrets_and_metrics_sum_the_workers(
    database_url, tmp_path, starshipit
):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from an earlier run")
    env = clean_env(
        DATABASE_URL=database_url,
        STOCKMIRROR_WEBHOOK_SECRETS=SECRET,
        STOCKMIRROR_API_TOKENS=TOKEN,
        STARSHIPIT_API_URL=starshipit.url,
        STARSHIPIT_API_KEY=API_KEY,
        STARSHIPIT_SUBSCRIPTION_KEY=SUB_KEY,
        STARSHIPIT_RATE_LIMIT="100",
        STOCKMIRROR_LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WEB_CONCURRENCY="2",
    )
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "-b", f"127.0.0.1:{port}"]
    with live(cmd, env) as gunicorn:
        gunicorn.wait_for(lambda stream, line: "Listening at" in line)
        server = Server(f"http://127.0.0.1:{port}")
        assert requests.get(f"{server.base}/readyz", timeout=TIMEOUT).status_code == 200
        answers = drive(server)
        starshipit_calls_by_server = starshipit.requests

        reconcile = cli(env, "reconcile", "run", "--since", "2026-11-19T00:00:00Z",
                        "--until", "2026-11-22T00:00:00Z")  # fmt: skip
        assert reconcile.returncode == 1, reconcile.stderr  # drift found
        retry = cli(env, "scheduler", "--once", "retry")
        assert retry.returncode == 1, retry.stderr  # the parked event is still parked

        [listed] = server.api("/api/reconciliations").json()["items"]
        run = server.api(f"/api/reconciliations/{listed['id']}").json()
        samples = parse(server.api("/metrics").text)
        assert gunicorn.stop() == 0

    check_metrics(samples, answers, run, starshipit_calls_by_server)
    check_log_lines(gunicorn.lines["stderr"], answers, server)
    assert gunicorn.lines["stdout"] == []
    assert not (tmp_path / "metrics" / "counter_1.db").exists()


def drive(server: Server) -> dict[str, requests.Response]:
    answers = {
        "applied": server.event(
            shipped_event("evt-ok", 100, [("SKU-A", 1, 1)]), **{"X-Request-ID": "req-accepted"}
        )
    }
    answers["duplicate"] = server.event(shipped_event("evt-ok", 100, [("SKU-A", 1, 1)]))
    answers["rejected"] = server.event(shipped_event("evt-x", 101, [("SKU-A", 1, 1)]), "wrong")
    answers["parked"] = server.event(shipped_event("evt-bad", 102, [("SKU-B", 1, 4)]))
    forged = 'evt-nl\n{"level": "ERROR", "msg": "forged", "request_id": null}'
    answers["forged"] = server.event(shipped_event(forged, 103, [("SKU-C", 1, 1)]))
    tracking = {"order_number": "N-500", "tracking_status": "Printed", "tracking_number": "T1"}
    answers["tracking"] = server.event(tracking, webhook="tracking")
    answers["api"] = server.api("/api/orders", **{"X-Request-ID": "req-api"})
    answers["bad-token"] = requests.get(
        f"{server.base}/api/orders", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT
    )
    for name, expected in (
        ("applied", 200),
        ("duplicate", 200),
        ("rejected", 401),
        ("parked", 200),
        ("tracking", 200),
        ("api", 200),
        ("bad-token", 401),
    ):
        assert answers[name].status_code == expected, (name, answers[name].text)
    assert answers["applied"].headers["X-Request-ID"] == "req-accepted"
    assert answers["api"].headers["X-Request-ID"] == "req-api"
    assert answers["tracking"].json()["status"] == "applied"
    assert answers["forged"].status_code in (200, 422)
    return answers


def check_metrics(samples, answers, run, starshipit_calls) -> None:
    events = "stockmirror_webhook_events_total"
    forged_ok = answers["forged"].status_code == 200
    assert value(samples, events, webhook="orders", outcome="applied") == 1 + forged_ok
    assert value(samples, events, webhook="orders", outcome="duplicate") == 1
    assert value(samples, events, webhook="orders", outcome="parked") == 1
    assert value(samples, events, webhook="orders", outcome="rejected") == 2 - forged_ok
    assert value(samples, events, webhook="tracking", outcome="applied") == 1
    count = "stockmirror_http_request_duration_seconds_count"
    orders = {"route": "/webhooks/starshipit/orders", "method": "POST"}
    assert value(samples, count, status="200", **orders) == 3 + forged_ok
    assert value(samples, count, status="401", **orders) == 1
    assert value(samples, count, route="/api/orders", method="GET", status="200") == 1
    assert value(samples, count, route="/api/orders", method="GET", status="401") == 1
    assert value(samples, "stockmirror_inbox_events", status="parked") == 1
    assert value(samples, "stockmirror_inbox_events", status="pending") == 0
    # What the web workers asked Starshipit (the tracking fetch); the CLI run is its own.
    assert starshipit_calls == 1
    assert value(samples, "stockmirror_starshipit_requests_total", status="200") == 1
    finished = parse_time(run["finished_at"]).timestamp()
    last = "stockmirror_reconciliation_last_success_timestamp_seconds"
    assert value(samples, last, account="default") == pytest.approx(finished)
    assert run["summary"]["unknown_order"] == 1
    for category in CATEGORIES:
        expected = run["summary"].get(category, 0)
        got = value(samples, "stockmirror_reconciliation_drift_rows", account="default",
                    category=category)  # fmt: skip
        assert got == expected, category
    runs = "stockmirror_scheduler_runs_total"
    assert value(samples, runs, job="retry", status="done") == 1
    assert value(samples, "stockmirror_database_up") == 1


def check_log_lines(lines: list[str], answers, server: Server) -> None:
    assert lines
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict)
        assert {"ts", "level", "msg", "request_id"} <= set(record), line
        records.append(record)
    text = "\n".join(lines)
    for secret in (SECRET, TOKEN, API_KEY, SUB_KEY, *server.signatures):
        assert secret not in text
    assert not [r for r in records if r["msg"] == "forged"]
    access = [r for r in records if r.get("logger") == "app.access"]
    for r in access:
        assert {"method", "path", "status", "duration_ms"} <= set(r), r
    webhooks = [r for r in access if r["path"].startswith("/webhooks/")]
    assert len(webhooks) == 6
    for r in webhooks:
        assert {"event_id", "event_type", "outcome"} <= set(r), r
        if r["outcome"] in ("rejected", "parked"):
            assert r["reason"], r
    [accepted] = [r for r in access if r["request_id"] == "req-accepted"]
    assert (accepted["event_id"], accepted["event_type"], accepted["outcome"]) == (
        "evt-ok",
        "order_shipped",
        "applied",
    )
    [api] = [r for r in access if r["request_id"] == "req-api"]
    assert (api["method"], api["path"], api["status"]) == ("GET", "/api/orders", 200)
    [forged] = [r for r in webhooks if str(r["event_id"]).startswith("evt-nl")]
    assert forged["event_id"].startswith("evt-nl\\x0a{")
    parked = [r for r in webhooks if r["outcome"] == "parked"]
    assert parked[0]["event_id"] == "evt-bad" and "exceeds" in parked[0]["reason"]
    [tracking] = [r for r in webhooks if r["webhook"] == "tracking"]
    assert tracking["event_id"].startswith("trk:") and tracking["event_type"] == "tracking"
    assert any(r.get("logger") == "gunicorn.error" for r in records)  # gunicorn's own lines too
