"""`stockmirror reconcile run|repair` and `stockmirror scheduler` (added to app.cli.main)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

import click

from app.config import Settings
from app.timeutil import parse_time


class TimeParam(click.ParamType):
    name = "time"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.group()
def reconcile() -> None:
    """Compare Starshipit with the mirror and the ledger."""


@reconcile.command("run")
@click.option("--since", type=TimeParam(), help="RFC 3339; default: last run's end − overlap")
@click.option("--until", type=TimeParam(), help="RFC 3339; default: now")
@click.option("--account-id", default="default", show_default=True)
def reconcile_run(since: datetime | None, until: datetime | None, account_id: str) -> None:
    """Reconcile a window; exit 1 when drift is found, 2 when the run fails."""
    from app.db import Database
    from app.reconcile import repository as repo
    from app.reconcile.client import StarshipitError, client_from_settings
    from app.reconcile.domain import CATEGORIES
    from app.reconcile.service import WindowError, execute_run, resolve_window, start_run

    settings = Settings.from_env()
    database = Database(settings.database_url)
    bar: Any = None

    def progress(phase: str, page: int, total: int) -> None:
        nonlocal bar
        if bar is None or bar.label != phase:
            if bar is not None:
                bar.render_finish()
            bar = click.progressbar(length=total, label=phase, file=sys.stderr)
        bar.length = max(bar.length or 0, total)
        bar.update(page - bar.pos)

    try:
        client = client_from_settings(settings)
        window = resolve_window(
            database,
            account_id,
            since,
            until,
            timedelta(minutes=settings.reconcile_overlap_minutes),
        )
        run_id = start_run(
            database, account_id=account_id, since=window[0], until=window[1], trigger="cli"
        )
        click.echo(f"reconciliation {run_id}: {window[0].isoformat()} → {window[1].isoformat()}")
        try:
            execute_run(database, client, run_id, progress=progress)
        finally:
            if bar is not None:
                bar.render_finish()
    except (StarshipitError, WindowError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    finally:
        database.dispose()
    database = Database(settings.database_url)
    with database.read() as session:
        run = repo.get_run(session, run_id)
        assert run is not None
        summary = dict(run.summary or {})
        checked, matched, calls = run.checked, run.matched, run.api_calls
    database.dispose()
    drift = sum(summary.get(c, 0) for c in CATEGORIES)
    click.echo(f"checked {checked} shipped orders, {matched} matched, {calls} API calls")
    for category in CATEGORIES:
        if summary.get(category):
            click.echo(f"  {category}: {summary[category]}")
    click.echo(f"drift: {drift}" + ("" if drift else " (clean)"))
    if drift:
        sys.exit(1)


@reconcile.command("repair")
@click.argument("run_id", type=int)
def reconcile_repair(run_id: int) -> None:
    """Apply a report's missing shipments (and other repairable rows)."""
    from app.db import Database
    from app.reconcile.service import RepairRefused, repair_run

    database = Database(Settings.from_env().database_url)
    try:
        result = repair_run(database, run_id)
    except (LookupError, RepairRefused) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    finally:
        database.dispose()
    click.echo(f"repaired {result.repaired} rows on {result.orders} orders")
    for skipped in result.skipped:
        click.echo(f"  skipped row {skipped['id']} ({skipped['category']}): {skipped['reason']}")


@click.command("scheduler")
@click.option("--once", "once", help="Run one job now (through the same lock) and exit.")
@click.option("--slot", type=TimeParam(), help="With --once: the slot to claim (default: now's).")
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
    from app.db import Database
    from app.reconcile.jobs import job_table
    from app.reconcile.scheduler import JobRunner, build_scheduler, slot_for
    from app.timeutil import utcnow

    settings = Settings.from_env()
    database = Database(settings.database_url)
    runner = JobRunner(database)
    jobs = job_table(settings, database)
    if once:
        if once not in jobs:
            raise click.UsageError(f"unknown job {once!r}; jobs: {', '.join(jobs)}")
        trigger, work = jobs[once]
        status = runner.run(once, slot or slot_for(trigger, utcnow()), work)
        click.echo(f"{once}: {status}")
        database.dispose()
        from app.cli import exit_for_job

        exit_for_job(once, status, runner.last_error)
        return
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
