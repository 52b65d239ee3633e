"""`stockmirror reconcile run|resume|repair|show` and `stockmirror scheduler`.

Exit codes (CONTRACT §5, app.exits): 0 clean / done; 1 drift found, rows left to act on,
a run to resume; 2 usage or configuration error (unknown run, bad window, no keys);
3 Starshipit or the database unavailable.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

import click

from app import wiring
from app.config import Settings
from app.db import Database
from app.exits import ACT, OK, UNAVAILABLE, USAGE, expected_failures, fail
from app.timeutil import parse_time

SHOWN_ROWS = 50


class TimeParam(click.ParamType):
    name = "time"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _open() -> tuple[Settings, Database]:
    with expected_failures():
        settings = Settings.from_env()
    return settings, wiring.database(settings)


@click.group()
def reconcile() -> None:
    """Compare Starshipit with the mirror and the ledger."""


def _progress_bar() -> Any:
    bar: Any = None

    def progress(phase: str, page: int, total: int) -> None:
        nonlocal bar
        if bar is None or bar.label != phase:
            if bar is not None:
                bar.render_finish()
            bar = click.progressbar(length=total, label=phase, file=sys.stderr)
        bar.length = max(bar.length or 0, total)
        bar.update(page - bar.pos)

    def finish() -> None:
        if bar is not None:
            bar.render_finish()

    return progress, finish


def _execute(settings: Settings, database: Database, account_id: str, claim: Any) -> None:
    """Run a claimed reconciliation with a progress bar, print its summary and exit:
    0 clean, 1 drift, 3 Starshipit or the database unavailable."""
    from app.reconcile.client import client_from_settings
    from app.reconcile.service import execute_run

    progress, finish = _progress_bar()
    lease = timedelta(seconds=settings.reconcile_lease_seconds)
    try:
        with expected_failures():
            client = client_from_settings(settings, account_id)
            try:
                execute_run(database, client, claim, lease=lease, progress=progress)
            finally:
                finish()
    except SystemExit:
        click.echo(
            f"reconciliation {claim.run_id} stopped; its finished pages are kept: "
            f"`stockmirror reconcile resume {claim.run_id}` continues it",
            err=True,
        )
        raise
    sys.exit(_summarise(database, claim.run_id))


def _summarise(database: Database, run_id: int) -> int:
    from app.reconcile import repository as repo
    from app.reconcile.domain import CATEGORIES

    with expected_failures(), database.read() as session:
        run = repo.get_run(session, run_id)
        assert run is not None
        summary = dict(run.summary or {})
        checked, matched, calls = run.checked, run.matched, run.api_calls
    drift = sum(summary.get(c, 0) for c in CATEGORIES)
    click.echo(f"checked {checked} shipped orders, {matched} matched, {calls} API calls")
    for category in CATEGORIES:
        if summary.get(category):
            click.echo(f"  {category}: {summary[category]}")
    click.echo(f"drift: {drift}" + ("" if drift else " (clean)"))
    if drift:
        click.echo(f"report: stockmirror reconcile show {run_id}")
    return ACT if drift else OK


@reconcile.command("run")
@click.option("--since", type=TimeParam(), help="RFC 3339; default: last run's end − overlap")
@click.option("--until", type=TimeParam(), help="RFC 3339; default: now")
@click.option("--account-id", default="default", show_default=True)
def reconcile_run(since: datetime | None, until: datetime | None, account_id: str) -> None:
    """Reconcile a window; exit 1 when drift is found, 3 when Starshipit or the database
    is unavailable (the run keeps its finished pages: resume it)."""
    from app.reconcile.client import client_from_settings
    from app.reconcile.service import RunConflict, WindowError, resolve_window, start_run

    settings, database = _open()
    try:
        with expected_failures():
            _account(settings, account_id)
            client_from_settings(settings, account_id)  # keys configured, before starting
            overlap = timedelta(minutes=settings.reconcile_overlap_minutes)
            try:
                window = resolve_window(database, account_id, since, until, overlap)
                claim = start_run(
                    database,
                    account_id=account_id,
                    since=window[0],
                    until=window[1],
                    trigger="cli",
                    lease=timedelta(seconds=settings.reconcile_lease_seconds),
                )
            except (WindowError, RunConflict) as error:
                fail(USAGE, str(error))
        click.echo(
            f"reconciliation {claim.run_id}: {window[0].isoformat()} → {window[1].isoformat()}"
            f" (account {account_id})"
        )
        _execute(settings, database, account_id, claim)
    finally:
        database.dispose()


def _account(settings: Settings, account_id: str) -> None:
    try:
        settings.account(account_id)
    except LookupError as error:
        fail(USAGE, str(error))


@reconcile.command("resume")
@click.argument("run_id", type=int)
def reconcile_resume(run_id: int) -> None:
    """Continue a failed or interrupted run from its first unfinished page."""
    from app.reconcile import repository as repo
    from app.reconcile.service import ResumeRefused, RunConflict, resume_run

    settings, database = _open()
    try:
        with expected_failures():
            with database.read() as session:
                run = repo.get_run(session, run_id)
                if run is None:
                    fail(USAGE, f"no reconciliation {run_id}")
                account_id = run.account_id
                since, until = run.since.isoformat(), run.until.isoformat()
            try:
                claim = resume_run(
                    database, run_id, lease=timedelta(seconds=settings.reconcile_lease_seconds)
                )
            except (LookupError, ResumeRefused, RunConflict) as error:
                fail(USAGE, str(error))
        click.echo(f"reconciliation {run_id}: resumed ({since} → {until}, account {account_id})")
        _execute(settings, database, account_id, claim)
    finally:
        database.dispose()


@reconcile.command("repair")
@click.argument("run_id", type=int)
def reconcile_repair(run_id: int) -> None:
    """Apply a report's missing shipments (and other repairable rows); exit 1 when rows
    were left for people to look at."""
    from app.reconcile.service import RepairRefused, repair_run

    _, database = _open()
    try:
        with expected_failures():
            try:
                result = repair_run(database, run_id, actor="cli")
            except (LookupError, RepairRefused) as error:
                fail(USAGE, str(error))
    finally:
        database.dispose()
    click.echo(f"repaired {result.repaired} rows on {result.orders} orders")
    for skipped in result.skipped:
        click.echo(f"  skipped row {skipped['id']} ({skipped['category']}): {skipped['reason']}")
    left = [s for s in result.skipped if s["reason"] != "already repaired"]
    sys.exit(ACT if left else OK)


@reconcile.command("show")
@click.argument("run_id", type=int)
def reconcile_show(run_id: int) -> None:
    """A report's drifted orders and where the full report is; exit 1 when it has drift
    left to act on (or the run must be resumed), 0 when clean."""
    from app.reconcile import repository as repo
    from app.reconcile.report import drift_json, run_json

    _, database = _open()
    try:
        with expected_failures(), database.read() as session:
            run = repo.get_run(session, run_id)
            if run is None:
                fail(USAGE, f"no reconciliation {run_id}")
            body = run_json(run)
            rows = [drift_json(d) for d in session.scalars(repo.drift_query(run_id).limit(5000))]
    finally:
        database.dispose()
    sys.exit(_print_report(body, rows))


def _print_report(run: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    window = run["window"]
    click.echo(
        f"reconciliation {run['id']} (account {run['account_id']}): {run['status']}, "
        f"{window['since']} → {window['until']}"
    )
    if run.get("error"):
        click.echo(f"error: {run['error']}")
    open_rows = [r for r in rows if not r["repaired_at"]]
    orders = sorted({r["order_number"] or str(r["order_id"]) for r in open_rows if r["order_id"]})
    click.echo(f"drift rows: {len(rows)} ({len(open_rows)} not repaired) on {len(orders)} orders")
    for r in open_rows[:SHOWN_ROWS]:
        who = r["order_number"] or r["order_id"] or "-"
        click.echo(
            f"  {r['category']:<20} {who!s:<16} {r['sku'] or '-':<16} "
            f"expected {r['expected'] or '-'}, actual {r['actual'] or '-'}: {r['detail']}"
        )
    if len(open_rows) > SHOWN_ROWS:
        click.echo(f"  … and {len(open_rows) - SHOWN_ROWS} more")
    click.echo(f"report: GET /api/reconciliations/{run['id']} (CSV: .csv, page: .html)")
    click.echo(f"console: /reconciliations/{run['id']}")
    if run["status"] in ("failed", "interrupted"):
        click.echo(f"resume: stockmirror reconcile resume {run['id']}")
        return ACT
    return ACT if open_rows else OK


@click.command("scheduler")
@click.option("--once", "once", help="Run one job now (under its lock, claiming no slot).")
@click.option("--slot", type=TimeParam(), help="With --once: claim this scheduled slot.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="STOCKMIRROR_SCHEDULER_METRICS_PORT",
    help="Serve this process's Prometheus metrics (Starshipit requests) on this port.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="STOCKMIRROR_SCHEDULER_METRICS_HOST",
)
def scheduler(
    once: str | None, slot: datetime | None, metrics_port: int | None, metrics_host: str
) -> None:
    """The scheduler process: reconciliation, polling, retries (UTC)."""
    from app.reconcile.jobs import job_table
    from app.reconcile.scheduler import JobRunner, build_scheduler

    settings, database = _open()
    runner = JobRunner(database)
    jobs = job_table(settings, database)
    if once:
        if once not in jobs:
            database.dispose()
            fail(USAGE, f"unknown job {once!r}; jobs: {', '.join(jobs)}")
        try:
            with expected_failures():
                status = runner.run(once, slot, jobs[once][1])
        finally:
            database.dispose()
        sys.exit(_once_exit(once, status, runner))
    from app.observability.logs import configure_logging, secrets_of, set_threshold

    configure_logging(settings.log_format, secrets_of(settings))
    set_threshold(0)  # the scheduler process's log lines are its output
    if metrics_port:
        from app.observability.metrics import serve_process_metrics

        serve_process_metrics(metrics_host, metrics_port)
    click.echo(f"scheduler {runner.name}: jobs {', '.join(jobs)} (UTC)")
    from app.cli import stop_on_sigterm

    stop_on_sigterm()
    try:
        build_scheduler(jobs, runner).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        database.dispose()


def _once_exit(job: str, status: str, runner: Any) -> int:
    record = runner.last
    detail = f" ({record.detail})" if record is not None and record.detail else ""
    if record is None or status == "done":
        click.echo(f"{job}: {status}{detail}")
        return ACT if record is not None and record.attention else OK
    if status == "skipped" and not record.not_configured:
        click.echo(f"{job}: {status}{detail}")
        return OK
    said = f"{job}: {record.detail or status}"
    if status == "failed" and record.not_configured:
        said = f"Starshipit refused the API keys ({said})"
    elif record.unavailable:
        said = f"Starshipit unavailable ({said})"
    click.echo(f"error: {said}", err=True)
    if record.not_configured:
        return USAGE
    return UNAVAILABLE if record.unavailable else ACT
