"""/healthz (process up) and /readyz (database reachable, migrations at head)."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import exc

from app.migrate import current_revision, head_revision

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
        reason = str(error).splitlines()[0]
        return {"status": "unavailable", "error": f"database unreachable: {reason}"}, 503
    if current != head:
        return {
            "status": "unavailable",
            "error": f"migrations not at head (database {current}, code {head})",
        }, 503
    return {"status": "ready", "revision": current}
