"""`stockmirror users add|list|disable` (CONTRACT §6). Exit codes per CONTRACT §5:
0 done, 2 usage or input error, 3 database unavailable; errors are one line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from app.db import Database, StorageUnavailable
from app.users.domain import ROLES, UserError
from app.users.service import UserExists, add_user, disable_user, list_users


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _database() -> Iterator[Database]:
    from sqlalchemy import exc

    from app.config import ConfigError, Settings

    try:
        database = Database(Settings.from_env().database_url)
    except (ConfigError, exc.ArgumentError) as error:
        _fail(str(error), 2)
    try:
        yield database
    except (StorageUnavailable, exc.OperationalError, exc.InterfaceError):
        _fail("the database is unavailable", 3)
    except exc.ProgrammingError:
        _fail("the database is not migrated: run `stockmirror db upgrade`", 2)
    finally:
        database.dispose()


def _read_password(from_stdin: bool, prompt: Callable[[], str]) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        _fail("give --password-stdin to read the password from standard input", 2)
    return prompt()


@click.group()
def users() -> None:
    """People who sign in to the console."""


@users.command("add")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(email: str, role: str, password_stdin: bool) -> None:
    """Add a console user (finance, ops or admin)."""
    password = _read_password(
        password_stdin,
        lambda: click.prompt("Password", hide_input=True, confirmation_prompt=True),
    )
    with _database() as database:
        try:
            user = add_user(database, email, role, password)
        except (UserError, UserExists) as error:
            _fail(str(error), 2)
    click.echo(f"added {user.email} ({user.role})")


@users.command("list")
def users_list() -> None:
    """Every console user with role and state."""
    with _database() as database:
        found = list_users(database)
    for user in found:
        state = "disabled" if user.disabled_at else "active"
        click.echo(f"{user.email}\t{user.role}\t{state}")


@users.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Disable a user: they cannot sign in, and their open sessions end now."""
    with _database() as database:
        try:
            ended = disable_user(database, email)
        except (UserError, LookupError) as error:
            _fail(str(error), 2)
    click.echo(f"disabled {email.strip().lower()}; {ended} open session(s) ended")
