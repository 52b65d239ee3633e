"""`stockmirror events replay|discard` (added to app.cli.main).

Exit codes (CONTRACT §5, app.exits): 0 done; 1 events still parked; 2 unknown event or
one that cannot be replayed or discarded; 3 the database unavailable.
"""

from __future__ import annotations

import getpass
import socket
import sys

import click

from app import wiring
from app.config import Settings
from app.db import Database
from app.exits import ACT, OK, USAGE, expected_failures, fail


def _database() -> Database:
    with expected_failures():
        return wiring.database(Settings.from_env())


@click.group()
def events() -> None:
    """The webhook inbox: parked events."""


@events.command("replay")
@click.argument("event_id", required=False)
@click.option("--account-id", default="default", show_default=True)
@click.option("--all", "replay_all", is_flag=True, help="Replay every parked or pending event.")
def events_replay(event_id: str | None, account_id: str, replay_all: bool) -> None:
    """Apply parked events again (one by id, or --all); exit 1 when some stay parked."""
    from app.webhooks.service import ReplayRefused, replay_due, replay_event

    if not replay_all and not event_id:
        fail(USAGE, "give an EVENT_ID or --all")
    database = _database()
    try:
        with expected_failures():
            try:
                if replay_all:
                    results = replay_due(database, limit=100_000)
                else:
                    results = [replay_event(database, account_id, event_id or "")]
            except (LookupError, ReplayRefused) as error:
                fail(USAGE, str(error))
    finally:
        database.dispose()
    for result in results:
        line = f"{result.event_id}: {result.status}"
        click.echo(line + (f" ({result.reason})" if result.reason else ""))
    sys.exit(ACT if any(r.status == "parked" for r in results) else OK)


def cli_actor() -> str:
    """Who ran the command: the operating-system user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli {user}@{socket.gethostname()}"


@events.command("discard")
@click.argument("event_id")
@click.option("--reason", required=True, help="Why the event is retired (kept with it).")
@click.option("--account-id", default="default", show_default=True)
def events_discard(event_id: str, reason: str, account_id: str) -> None:
    """Retire a parked event for good (kept, marked discarded, with who and why)."""
    from app.webhooks.service import DiscardRefused, discard_event

    if not reason.strip():
        fail(USAGE, "--reason must say why the event is discarded")
    database = _database()
    try:
        with expected_failures():
            try:
                stored = discard_event(
                    database, account_id, event_id, reason=reason.strip(), actor=cli_actor()
                )
            except (LookupError, DiscardRefused) as error:
                fail(USAGE, str(error))
    finally:
        database.dispose()
    click.echo(f"{stored.event_id}: discarded by {stored.discarded_by}")
