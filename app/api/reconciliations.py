"""Reconciliation reports, repair, scheduler runs, tracking retries (CONTRACT §4)."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate

from app.api.common import account_id, db, list_arg, paginate
from app.errors import ApiError
from app.reconcile import repository as repo
from app.reconcile import scheduler as sched
from app.reconcile import tracking
from app.reconcile.client import StarshipitNotConfigured, client_from_settings
from app.reconcile.csv_response import drift_csv_response
from app.reconcile.domain import CATEGORIES
from app.reconcile.launch import launch_run
from app.reconcile.report import drift_json, run_json
from app.reconcile.service import RepairRefused, WindowError, repair_run
from app.schemas import Time

log = logging.getLogger(__name__)
bp = Blueprint(
    "reconciliations_api", __name__, url_prefix="/api", template_folder="../reconcile/templates"
)

MAX_INLINE_DRIFT = 5000
CATEGORY_MEANINGS = (
    ("missing_shipment", "shipped in Starshipit, not in the ledger"),
    ("unexpected_shipment", "in the ledger, not shipped in Starshipit"),
    ("quantity_mismatch", "shipped units differ"),
    ("unknown_order", "shipped in Starshipit, never mirrored"),
    ("status_mismatch", "mirror status disagrees with Starshipit"),
    ("negative_stock", "SKU below zero on hand"),
    ("unshipped_missing", "unshipped in Starshipit, never mirrored"),
)


class RunRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    since = Time(load_default=None, allow_none=True)
    until = Time(load_default=None, allow_none=True)
    account_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


def _settings() -> Any:
    return current_app.extensions["stockmirror"].settings


def _run_or_404(session: Any, run_id: int) -> Any:
    run = repo.get_run(session, run_id)
    if run is None:
        raise ApiError(f"reconciliation {run_id} not found", 404)
    return run


@bp.post("/reconciliations")
def create() -> ResponseReturnValue:
    from app.api.common import json_body

    body = RunRequest().load(json_body())
    database = db()
    try:
        run_id = launch_run(
            database,
            _settings(),
            account_id=body["account_id"] or account_id(),
            since=body["since"],
            until=body["until"],
            trigger="api",
        )
    except StarshipitNotConfigured as error:
        raise ApiError(str(error), 503) from None
    except WindowError as error:
        raise ApiError(str(error), 422, fields={error.field: [str(error)]}) from None
    with database.read() as session:
        run = _run_or_404(session, run_id)
        return {"id": run.id, "status": run.status}, 202


@bp.get("/reconciliations")
def list_runs() -> ResponseReturnValue:
    acct = request.args.get("account_id") or None
    with db().read() as session:
        return paginate(session, repo.runs_query(acct), run_json)


@bp.get("/reconciliations/<int:run_id>")
def get(run_id: int) -> ResponseReturnValue:
    categories = list_arg("category", CATEGORIES)
    with db().read() as session:
        run = _run_or_404(session, run_id)
        total = repo.drift_count(session, run_id)
        rows = session.scalars(repo.drift_query(run_id, categories).limit(MAX_INLINE_DRIFT))
        body = run_json(run)
        body["drift"] = [drift_json(d) for d in rows]
        body["drift_total"] = total
        body["drift_truncated"] = total > MAX_INLINE_DRIFT and not categories
        return body


@bp.get("/reconciliations/<int:run_id>.csv")
def get_csv(run_id: int) -> ResponseReturnValue:
    with db().read() as session:
        run = _run_or_404(session, run_id)
    return drift_csv_response(db(), run, ZoneInfo(_settings().timezone))


@bp.get("/reconciliations/<int:run_id>.html")
def get_html(run_id: int) -> ResponseReturnValue:
    with db().read() as session:
        run = _run_or_404(session, run_id)
        total = repo.drift_count(session, run_id)
        drift = [
            drift_json(d) for d in session.scalars(repo.drift_query(run_id).limit(MAX_INLINE_DRIFT))
        ]
        return render_template(
            "reconcile/report.html",
            run=run,
            report=run_json(run),
            drift=drift,
            total=total,
            truncated=total > len(drift),
            categories=CATEGORY_MEANINGS,
            csv_url=f"/api/reconciliations/{run_id}.csv",
        )


@bp.post("/reconciliations/<int:run_id>/repair")
def repair(run_id: int) -> ResponseReturnValue:
    try:
        result = repair_run(db(), run_id)
    except LookupError as error:
        raise ApiError(str(error), 404) from None
    except RepairRefused as error:
        raise ApiError(str(error), 409) from None
    return result.to_dict(), 200


@bp.get("/scheduler/runs")
def scheduler_runs() -> ResponseReturnValue:
    jobs = list_arg("job")
    statuses = list_arg("status", sched.RUN_STATUSES)
    with db().read() as session:
        return paginate(session, sched.runs_query(jobs, statuses), sched.run_json)


@bp.post("/tracking-events/<path:event_id>/retry")
def retry_tracking(event_id: str) -> ResponseReturnValue:
    acct = account_id()
    try:
        client = client_from_settings(_settings(), max_retries=0)
    except StarshipitNotConfigured as error:
        raise ApiError(str(error), 503) from None
    try:
        outcome = tracking.process_tracking(
            db(),
            client,
            acct,
            event_id,
            max_attempts=_settings().tracking_max_attempts,
            manual=True,
        )
    except LookupError as error:
        raise ApiError(str(error), 404) from None
    except tracking.NotRetryable as error:
        raise ApiError(str(error), 409) from None
    return {"event_id": event_id, "status": outcome.status, "reason": outcome.reason}
