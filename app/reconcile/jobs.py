"""What the scheduler runs: reconciliation, polling, retries of parked/pending work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from app.config import Settings
from app.db import Database
from app.reconcile import repository as repo
from app.reconcile.client import StarshipitClient, StarshipitNotConfigured, client_from_settings
from app.reconcile.domain import CATEGORIES
from app.reconcile.polling import poll_unshipped
from app.reconcile.scheduler import EPOCH, JobSkipped
from app.reconcile.service import run_reconciliation
from app.reconcile.tracking import retry_tracking
from app.webhooks.service import replay_due


def _client(settings: Settings, **kwargs: Any) -> StarshipitClient:
    try:
        return client_from_settings(settings, **kwargs)
    except StarshipitNotConfigured as error:
        raise JobSkipped("not configured: " + str(error)) from None


def reconcile_job(settings: Settings, db: Database, account_id: str = "default") -> str:
    client = _client(settings)
    run_id = run_reconciliation(
        db,
        client,
        account_id=account_id,
        overlap=timedelta(minutes=settings.reconcile_overlap_minutes),
        trigger="scheduler",
    )
    with db.read() as session:
        run = repo.get_run(session, run_id)
        assert run is not None
        drift = sum(v for k, v in (run.summary or {}).items() if k in CATEGORIES)
        return f"reconciliation {run_id}: {drift} drift rows, {run.matched} matched"


def poll_job(settings: Settings, db: Database, account_id: str = "default") -> str:
    result = poll_unshipped(db, _client(settings), account_id=account_id)
    return (
        f"{result.seen} unshipped orders since {result.since.isoformat()}: "
        f"{result.created} created, {result.changed} changed, {result.parked} parked"
    )


def retry_job(settings: Settings, db: Database) -> str:
    replayed = replay_due(db)
    detail = f"{len(replayed)} parked/pending order events replayed"
    try:
        client = client_from_settings(settings)
    except StarshipitNotConfigured:
        return detail + "; tracking work waits: Starshipit API not configured"
    tracked = retry_tracking(db, client, max_attempts=settings.tracking_max_attempts)
    applied = sum(1 for t in tracked if t.status in ("applied", "stale"))
    return detail + f"; tracking: {len(tracked)} retried, {applied} applied"


def job_table(settings: Settings, db: Database) -> dict[str, tuple[Any, Callable[[], str | None]]]:
    """name → (APScheduler trigger, work) for every job this configuration enables."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    jobs: dict[str, tuple[Any, Callable[[], str | None]]] = {
        "reconcile": (
            CronTrigger.from_crontab(settings.reconcile_cron, timezone="UTC"),
            lambda: reconcile_job(settings, db),
        ),
        "retry": (
            IntervalTrigger(
                seconds=settings.retry_interval_seconds, start_date=EPOCH, timezone="UTC"
            ),
            lambda: retry_job(settings, db),
        ),
    }
    if settings.poll_interval_seconds > 0:
        jobs["poll"] = (
            IntervalTrigger(
                seconds=settings.poll_interval_seconds, start_date=EPOCH, timezone="UTC"
            ),
            lambda: poll_job(settings, db),
        )
    return jobs
