"""The `stockmirror` console script."""

from __future__ import annotations

import os
import sys

import click

from app.config import Settings


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
def main() -> None:
    """stockmirror: Starshipit order mirror and stock ledger."""


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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Development server: generate first-run secrets, migrate, serve."""
    from app import create_app
    from app.instance import ensure_secrets
    from app.migrate import upgrade

    base = _settings()
    os.environ.update(ensure_secrets(base.instance_path, dict(os.environ)))
    settings = _settings()
    upgrade(settings.database_url)
    click.echo(f"database: {_safe_url(settings.database_url)} (migrated)")
    click.echo(f"allocation: {settings.allocation}; negative stock: {settings.negative_stock}")
    app = create_app(settings=settings)
    app.run(host=host, port=port, threaded=True)


@main.group()
def events() -> None:
    """The webhook inbox."""


@events.command("replay")
@click.argument("event_id", required=False)
@click.option("--account-id", default="default", show_default=True)
@click.option("--all", "replay_all", is_flag=True, help="Replay every parked or pending event.")
def events_replay(event_id: str | None, account_id: str, replay_all: bool) -> None:
    """Apply parked events again (one by id, or --all)."""
    from app.db import Database
    from app.webhooks.service import ReplayRefused, replay_due, replay_event

    database = Database(_settings().database_url)
    try:
        if replay_all:
            results = replay_due(database, limit=100_000)
        elif event_id:
            results = [replay_event(database, account_id, event_id)]
        else:
            raise click.UsageError("give an EVENT_ID or --all")
    except (LookupError, ReplayRefused) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    finally:
        database.dispose()
    for result in results:
        line = f"{result.event_id}: {result.status}"
        click.echo(line + (f" ({result.reason})" if result.reason else ""))
    if any(r.status == "parked" for r in results):
        sys.exit(1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


from app.reconcile.cli import reconcile, scheduler  # noqa: E402

main.add_command(reconcile)
main.add_command(scheduler)

from app.ledger.cli import ledger, stock  # noqa: E402

main.add_command(stock)
main.add_command(ledger)

from app.users.cli import users  # noqa: E402

main.add_command(users)
