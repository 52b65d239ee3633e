"""The `stockmirror` console script."""

from __future__ import annotations

import os

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
