"""Prometheus metrics (CONTRACT §7), with prometheus_client.

Counters and histograms live in each process. Under gunicorn, PROMETHEUS_MULTIPROC_DIR
(set by deploy/gunicorn.conf.py) makes prometheus_client keep them in files that every
worker writes and a scrape sums (MultiProcessCollector); gunicorn's `child_exit` hook marks
a dead worker's files. Without it (`stockmirror serve`, the scheduler), one plain registry.

What the database knows — the inbox backlog, reconciliation results, scheduler runs of
every process — is read from it at scrape time (DatabaseCollector), so it is the same
whichever worker answers and includes runs of a separate `stockmirror scheduler`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import exc

from app.db import Database, StorageUnavailable
from app.observability import repository
from app.reconcile.domain import CATEGORIES
from app.webhooks.models import REPLAYABLE_STATUSES

PROCESS = CollectorRegistry(auto_describe=True)

WEBHOOK_OUTCOMES = (
    "applied",
    "duplicate",
    "stale",
    "ignored",
    "parked",
    "conflict",
    "rejected",
    "unavailable",
    "error",
)
WEBHOOK_EVENTS = Counter(
    "stockmirror_webhook_events",
    "Webhook deliveries by webhook (orders, tracking) and outcome; rejected = 4xx, "
    "unavailable = 503 (the sender retries), error = 500.",
    ["webhook", "outcome"],
    registry=PROCESS,
)
HTTP_DURATION = Histogram(
    "stockmirror_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL rule, not the raw path), method, status.",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=PROCESS,
)
STARSHIPIT_REQUESTS = Counter(
    "stockmirror_starshipit_requests",
    "Requests sent to Starshipit's REST API (retries included), by HTTP status, "
    "or timeout / connection_error when no answer came.",
    ["status"],
    registry=PROCESS,
)


def count_starshipit_response(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """A requests response hook: one count per answer Starshipit sent."""
    STARSHIPIT_REQUESTS.labels(status=str(response.status_code)).inc()


def count_starshipit_failure(error: BaseException) -> None:
    status = "timeout" if isinstance(error, requests.Timeout) else "connection_error"
    STARSHIPIT_REQUESTS.labels(status=status).inc()


class _ThisProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from PROCESS.collect()


class DatabaseCollector(Collector):
    """Gauges and counters read from the database at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "stockmirror_database_up", "1 when the database answered this scrape's queries."
        )
        try:
            with self.db.read() as session:
                snapshot = repository.snapshot(session)
        except (StorageUnavailable, exc.SQLAlchemyError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _inbox(snapshot)
        yield from _reconciliation(snapshot)
        runs = CounterMetricFamily(
            "stockmirror_scheduler_runs",
            "Finished scheduled job runs of every scheduler process, by job and status "
            "(done, failed, skipped).",
            labels=["job", "status"],
        )
        for (job, status), count in sorted(snapshot.scheduler_runs.items()):
            runs.add_metric([job, status], count)
        yield runs


def _inbox(snapshot: repository.Snapshot) -> Iterator[Metric]:
    events = GaugeMetricFamily(
        "stockmirror_inbox_events",
        "Stored events waiting for work: parked (needs a person or a replay), pending "
        "(retried automatically).",
        labels=["status"],
    )
    oldest = GaugeMetricFamily(
        "stockmirror_inbox_oldest_event_timestamp_seconds",
        "When the oldest parked / pending event was received (absent when there is none).",
        labels=["status"],
    )
    for status in REPLAYABLE_STATUSES:
        count, first = snapshot.inbox.get(status, (0, None))
        events.add_metric([status], count)
        if first is not None:
            oldest.add_metric([status], first.timestamp())
    yield events
    yield oldest


def _reconciliation(snapshot: repository.Snapshot) -> Iterator[Metric]:
    last = GaugeMetricFamily(
        "stockmirror_reconciliation_last_success_timestamp_seconds",
        "When the account's last successful reconciliation finished.",
        labels=["account"],
    )
    drift = GaugeMetricFamily(
        "stockmirror_reconciliation_drift_rows",
        "Drift rows per category in the account's last finished reconciliation.",
        labels=["account", "category"],
    )
    for account, (finished_at, summary) in sorted(snapshot.last_runs.items()):
        last.add_metric([account], finished_at.timestamp())
        for category in CATEGORIES:
            drift.add_metric([account, category], int(summary.get(category, 0) or 0))
    yield last
    yield drift


def exposition(db: Database, multiproc_dir: str | None) -> bytes:
    """The text a scrape gets: this process (or every gunicorn worker) plus the database."""
    registry = CollectorRegistry(auto_describe=True)
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(db))
    return generate_latest(registry)


def serve_process_metrics(host: str, port: int) -> None:
    """This process's metrics over HTTP in a background thread (the scheduler process)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=PROCESS)
