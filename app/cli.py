"""The `stockmirror` console script.

Exit codes of every command (CONTRACT §5): 0 success; 1 the command worked and found
something to act on (drift, events still parked, orders short of stock); 2 usage or
configuration error; 3 Starshipit or the database unavailable. Expected failures print one
line `error: ...` on stderr, never a traceback: `Group.invoke` maps them (`failure`).
"""

from __future__ import annotations

import os
import signal
from typing import IO, Any, NoReturn

import click

from app.config import ConfigError, Settings

# A command keeps its metrics in its own process (the scheduler serves them with
# --metrics-port): it must not add files to the folder gunicorn's workers share.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

EXIT_ACT = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


class CliError(click.ClickException):
    """A usage or configuration error: `error: <message>` on stderr, exit 2."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Unavailable(CliError):
    """Starshipit or the database cannot be reached: exit 3."""

    exit_code = EXIT_UNAVAILABLE


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return (lines[0] if lines else type(cause).__name__)[:300]


def failure(error: BaseException) -> CliError | None:
    """The one-line message and exit code of an expected failure; None for a bug."""
    import psycopg
    from sqlalchemy import exc

    from app.db import StorageUnavailable
    from app.reconcile.client import StarshipitError, StarshipitNotConfigured

    if isinstance(error, CliError):
        return error
    if isinstance(error, click.UsageError):
        path = error.ctx.command_path if error.ctx is not None else "stockmirror"
        return CliError(f"{error.format_message()} (see '{path} --help')")
    if isinstance(error, click.ClickException):
        return CliError(error.format_message())
    if isinstance(error, ConfigError | StarshipitNotConfigured):
        return CliError(str(error))
    if isinstance(error, exc.ArgumentError):
        return CliError("DATABASE_URL is not a database URL stockmirror can use")
    if isinstance(error, StarshipitError):
        if error.status in (401, 403):
            return CliError(f"Starshipit refused the API keys: {_first_line(error)}")
        return Unavailable(f"Starshipit unavailable: {_first_line(error)}")
    storage = (exc.OperationalError, exc.InterfaceError, psycopg.OperationalError)
    if isinstance(error, (StorageUnavailable, *storage)):
        return Unavailable(f"database unavailable: {_first_line(error)}")
    return None


class Group(click.Group):
    """Runs a command and turns its expected failures into `error: ...` and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            mapped = failure(error)
            if mapped is None:
                raise
            raise mapped from None


def _settings() -> Settings:
    return Settings.from_env()


def app_context() -> Any:
    """The app's context (settings, database, wiring) for commands that call services."""
    from app import create_app

    return create_app(settings=_settings()).extensions["stockmirror"]


@click.group(cls=Group)
@click.option(
    "-v", "--verbose", is_flag=True, help="Also write log lines (with tracebacks) on stderr."
)
def main(verbose: bool) -> None:
    """stockmirror: Starshipit order mirror and stock ledger."""
    import logging

    from app.observability.logs import configure_logging, set_threshold

    # A command's own output says what happened; log lines are for long-running
    # processes (serve, scheduler) and for --verbose.
    set_threshold(logging.NOTSET if verbose else logging.CRITICAL + 1)
    configure_logging("text", [])


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database to the newest schema."""
    from app.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}: {_safe_url(settings.database_url)}")


@main.command()
@click.option("--host", envvar="HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="PORT", default=8000, show_default=True, type=click.IntRange(0))
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Run the scheduled jobs (reconcile, poll, retry) in this process.",
)
def serve(host: str, port: int, scheduler: bool) -> None:
    """Run the whole product on this host: migrate, serve, run the scheduled jobs."""
    import logging

    from app import create_app
    from app.instance import ensure_secrets
    from app.migrate import upgrade
    from app.observability.logs import set_threshold
    from app.serve import CannotListen, banner, base_url, bind, next_runs, start_jobs

    base = _settings()
    os.environ.update(ensure_secrets(base.instance_path, dict(os.environ)))
    settings = _settings()
    upgrade(settings.database_url)
    app = create_app(settings=settings)
    set_threshold(logging.NOTSET)  # a server's log lines are part of its output
    try:
        server = bind(app, host, port)
    except CannotListen as error:
        raise CliError(str(error)) from None
    jobs = start_jobs(settings, app.extensions["stockmirror"].db) if scheduler else None
    for line in banner(settings, base_url(host, server.port), next_runs(jobs) if jobs else None):
        click.echo(line)
    stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if jobs is not None:
            jobs.shutdown(wait=False)
        server.server_close()
        click.echo("stockmirror stopped")


def stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop) ends a long-running command as Ctrl+C does."""
    signal.signal(signal.SIGTERM, _stop)


def _stop(_signum: int, _frame: Any) -> NoReturn:
    raise KeyboardInterrupt


@main.group()
def secrets() -> None:
    """Webhook secrets and API tokens."""


@secrets.command("generate")
def secrets_generate() -> None:
    """Print a fresh webhook signing secret and API token (env-file lines)."""
    from app.instance import generate_secrets

    for key, value in generate_secrets().items():
        click.echo(f"{key}={value}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


from app.reconcile.cli import reconcile, scheduler  # noqa: E402
from app.webhooks.cli import events  # noqa: E402

main.add_command(events)
main.add_command(reconcile)
main.add_command(scheduler)

from app.ledger.cli import ledger, stock  # noqa: E402

main.add_command(stock)
main.add_command(ledger)

from app.operations_cli import locations, orders, picklist  # noqa: E402

main.add_command(orders)
main.add_command(picklist)
main.add_command(locations)
from app.users.cli import users  # noqa: E402

main.add_command(users)
