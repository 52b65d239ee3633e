"""What the scheduler runs: reconciliation and polling for every account (each with its
own keys and rate limit), and retries of parked/pending work.

A job reports a JobResult (its detail, and whether it found something to act on); a job
that failed for one account still runs the others and then raises JobFailed with a short
detail per account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from app.config import Account, Settings
from app.db import Database
from app.failures import is_unavailable
from app.reconcile import repository as repo
from app.reconcile.client import (
    StarshipitClient,
    StarshipitError,
    StarshipitNotConfigured,
    StarshipitUnavailable,
    client_from_settings,
)
from app.reconcile.domain import CATEGORIES
from app.reconcile.polling import poll_account
from app.reconcile.scheduler import EPOCH, JobFailed, JobResult, JobSkipped
from app.reconcile.service import (
    RunConflict,
    execute_run,
    failure_reason,
    resolve_window,
    start_run,
)
from app.reconcile.tracking import retry_tracking
from app.webhooks import inbox
from app.webhooks.service import replay_due

log = logging.getLogger(__name__)

Work = Callable[[Settings, Database, Account], tuple[str, bool]]


def _per_account(settings: Settings, db: Database, job: str, work: Work) -> JobResult:
    """Run `work` for every account with API keys; one account failing never stops the
    others. Skipped when no account has keys."""
    lines, failed, unavailable, refused, attention = [], False, False, False, False
    configured = [a for a in settings.accounts if a.api_configured]
    if not configured:
        raise JobSkipped("not configured: Starshipit API keys missing for every account")
    for account in configured:
        try:
            detail, found = work(settings, db, account)
        except RunConflict as conflict:
            detail, found = f"skipped: {conflict}", False
        except JobFailed as recorded:  # its reason is already short and logged
            detail, found, failed = f"failed: {recorded}", False, True
            unavailable = unavailable or recorded.unavailable
            refused = refused or recorded.refused
        except Exception as error:  # noqa: BLE001 - recorded; the next account still runs
            if is_unavailable(error):
                raise  # the database is down: no account can run
            detail = "failed: " + failure_reason(error, f"{job} of account {account.id!r}")
            failed, found = True, False
            unavailable = unavailable or isinstance(error, StarshipitUnavailable)
            refused = refused or keys_refused(error)
        lines.append(f"{account.id}: {detail}")
        attention = attention or found
    missing = [a.id for a in settings.accounts if not a.api_configured]
    if missing:
        lines.append(f"not configured: {', '.join(missing)}")
    if failed:
        raise JobFailed("; ".join(lines), unavailable=unavailable, refused=refused)
    return JobResult("; ".join(lines), attention=attention)


def keys_refused(error: BaseException) -> bool:
    """Starshipit refused the account's API keys (a configuration error, not an outage)."""
    return isinstance(error, StarshipitError) and error.status in (401, 403)


def _client(settings: Settings, account: Account, **kwargs: Any) -> StarshipitClient:
    return client_from_settings(settings, account.id, **kwargs)


def _reconcile_account(settings: Settings, db: Database, account: Account) -> tuple[str, bool]:
    lease = timedelta(seconds=settings.reconcile_lease_seconds)
    since, until = resolve_window(
        db, account.id, None, None, timedelta(minutes=settings.reconcile_overlap_minutes)
    )
    claim = start_run(
        db, account_id=account.id, since=since, until=until, trigger="scheduler", lease=lease
    )
    try:
        execute_run(db, _client(settings, account), claim, lease=lease)
    except Exception as error:
        if is_unavailable(error):
            raise
        with db.read() as session:
            run = repo.get_run(session, claim.run_id)
            reason = run.error if run is not None else None
        raise JobFailed(
            f"reconciliation {claim.run_id}: {reason or 'failed'}",
            unavailable=isinstance(error, StarshipitUnavailable),
            refused=keys_refused(error),
        ) from None
    with db.read() as session:
        run = repo.get_run(session, claim.run_id)
        assert run is not None
        drift = sum(v for k, v in (run.summary or {}).items() if k in CATEGORIES)
        return f"reconciliation {run.id}: {drift} drift rows, {run.matched} matched", drift > 0


def reconcile_job(settings: Settings, db: Database) -> JobResult:
    return _per_account(settings, db, "reconciliation", _reconcile_account)


def _poll_account(settings: Settings, db: Database, account: Account) -> tuple[str, bool]:
    result = poll_account(
        db,
        _client(settings, account),
        account_id=account.id,
        max_attempts=settings.tracking_max_attempts,
    )
    return result.describe(), result.parked > 0


def poll_job(settings: Settings, db: Database) -> JobResult:
    return _per_account(settings, db, "poll", _poll_account)


def retry_job(settings: Settings, db: Database) -> JobResult:
    """Parked/pending order events of every account, then due tracking work with each
    account's client (work of an account without keys waits)."""
    replayed = replay_due(db)
    detail = f"{len(replayed)} parked/pending order events replayed"
    clients: dict[str, StarshipitClient | None] = {}

    def client_for(account_id: str) -> StarshipitClient | None:
        if account_id not in clients:
            try:
                clients[account_id] = client_from_settings(settings, account_id)
            except (StarshipitNotConfigured, LookupError):
                clients[account_id] = None
        return clients[account_id]

    accounts = [a.id for a in settings.accounts] if settings.multi_account else None
    tracked = retry_tracking(
        db, client_for, max_attempts=settings.tracking_max_attempts, accounts=accounts
    )
    applied = sum(1 for t in tracked if t.status in ("applied", "stale"))
    detail += f"; tracking: {len(tracked)} retried, {applied} applied"
    if not any(a.api_configured for a in settings.accounts):
        detail += "; tracking work waits: Starshipit API not configured"
    with db.read() as session:
        parked = inbox.count_status(session, "parked")
    if parked:
        detail += f"; {parked} events still parked"
    return JobResult(detail, attention=parked > 0)


JOB_NAMES = ("reconcile", "retry", "poll")  # every job job_table can enable


def job_table(
    settings: Settings, db: Database
) -> dict[str, tuple[Any, Callable[[], JobResult | str | None]]]:
    """name → (APScheduler trigger, work) for every job this configuration enables."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    jobs: dict[str, tuple[Any, Callable[[], JobResult | str | None]]] = {
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
