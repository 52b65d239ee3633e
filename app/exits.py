"""Exit codes of the `stockmirror` commands (CONTRACT §5) and the one-line errors of
expected failures: never a traceback.

0 success; 1 the command worked and found something to act on (drift, events still
parked); 2 usage or configuration error; 3 Starshipit or the database unavailable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from app.config import ConfigError
from app.failures import is_unavailable

OK, ACT, USAGE, UNAVAILABLE = 0, 1, 2, 3


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def exit_code_of(error: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for an expected failure; None for a bug."""
    from app.reconcile.client import (
        StarshipitError,
        StarshipitNotConfigured,
        StarshipitUnavailable,
    )

    if isinstance(error, ConfigError | StarshipitNotConfigured):
        return USAGE, str(error)
    if is_unavailable(error):
        return UNAVAILABLE, "database unavailable (check DATABASE_URL and that it is running)"
    if isinstance(error, StarshipitUnavailable):
        return UNAVAILABLE, f"Starshipit unavailable: {error}"
    if isinstance(error, StarshipitError):
        if error.status in (401, 403):
            return USAGE, f"Starshipit refused the API keys: {error}"
        return UNAVAILABLE, f"Starshipit: {error}"
    return None


@contextmanager
def expected_failures() -> Iterator[None]:
    """Turn expected failures into `error: ...` and their exit code."""
    try:
        yield
    except Exception as error:
        known = exit_code_of(error)
        if known is None:
            raise
        fail(*known)
