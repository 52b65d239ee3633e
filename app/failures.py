"""Short reasons for failures that are stored or shown (parked events, reconciliation runs,
scheduler runs): never SQL text, query parameters, hosts, roles, paths or tracebacks.

An expected failure carries its own short message (ParkEvent, StarshipitError, ...) and
callers use it as it is. Anything else gets a short reason naming what kind of failure it
was and an error id; the details go to the server log under the same id.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import exc

from app.db import StorageUnavailable


def error_id() -> str:
    return uuid.uuid4().hex[:12]


def _kind(error: BaseException) -> str:
    if isinstance(error, (StorageUnavailable, exc.OperationalError, exc.InterfaceError)):
        return "database unavailable"
    if isinstance(error, (exc.DBAPIError, exc.StatementError)):
        return "the database refused the change"
    if isinstance(error, UnicodeError):
        return "text the database cannot store"
    return "internal error"


def short_reason(error: BaseException, log: logging.Logger, doing: str) -> str:
    """`<kind> (error id <id>)`; logs `doing` and the full error under that id."""
    eid = error_id()
    log.error("%s failed (error id %s)", doing, eid, exc_info=error)
    return f"{_kind(error)} (error id {eid})"


def is_unavailable(error: BaseException) -> bool:
    """Storage down (the caller should give up now and try later), not a refusal."""
    return isinstance(error, (StorageUnavailable, exc.OperationalError, exc.InterfaceError))
