"""/healthz (process up) and /readyz (database reachable, migrations at head)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import exc

from app.migrate import current_revision, head_revision

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    database = current_app.extensions["stockmirror"].db
    head = head_revision()
    try:
        current = current_revision(database.engine)
    except (exc.SQLAlchemyError, OSError) as error:
        # The detail (host, role, SQL) goes to the log only, never to the answer.
        log.error("readiness: database unreachable (%s)", type(error).__name__)
        return {"status": "unavailable", "error": "database unreachable"}, 503
    if current != head:
        return {
            "status": "unavailable",
            "error": f"migrations not at head (database {current}, code {head})",
        }, 503
    return {"status": "ready", "revision": current}
