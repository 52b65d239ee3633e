"""Reconciliation reports, repair, scheduler runs, tracking retries (CONTRACT §4)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue

from app.api.bodies import RunDetail, RunPage, RunStarted
from app.api.common import (
    AccountFilterPageQuery,
    AccountQuery,
    PageQuery,
    Query,
    db,
    one_of,
    paginate,
)
from app.api.openapi import Anything, operation
from app.errors import ApiError
from app.reconcile import queries, tracking
from app.reconcile import scheduler as sched
from app.reconcile.client import StarshipitNotConfigured, client_from_settings
from app.reconcile.csv_response import drift_csv_response
from app.reconcile.domain import CATEGORIES, DriftCategory
from app.reconcile.jobs import JOB_NAMES
from app.reconcile.launch import launch_resume, launch_run
from app.reconcile.models import ReconciliationRun
from app.reconcile.report import run_json
from app.reconcile.service import (
    RepairRefused,
    ResumeRefused,
    RunConflict,
    WindowError,
    repair_run,
)
from app.schemas import Strict, Text, Time

log = logging.getLogger(__name__)
bp = Blueprint(
    "reconciliations_api", __name__, url_prefix="/api", template_folder="../reconcile/templates"
)

MAX_INLINE_DRIFT = 5000
CATEGORY_MEANINGS = (
    (DriftCategory.MISSING_SHIPMENT, "shipped in Starshipit, not in the ledger"),
    (DriftCategory.UNEXPECTED_SHIPMENT, "in the ledger, not shipped in Starshipit"),
    (DriftCategory.QUANTITY_MISMATCH, "shipped units differ"),
    (DriftCategory.UNKNOWN_ORDER, "shipped in Starshipit, never mirrored"),
    (DriftCategory.STATUS_MISMATCH, "mirror status disagrees with Starshipit"),
    (DriftCategory.NEGATIVE_STOCK, "SKU below zero on hand"),
    (DriftCategory.UNSHIPPED_MISSING, "unshipped in Starshipit, never mirrored"),
)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class RunRequest(Strict):
    since = Time(load_default=None, allow_none=True, earliest=EARLIEST, latest=LATEST)
    until = Time(load_default=None, allow_none=True, earliest=EARLIEST, latest=LATEST)
    account_id = Text(ReconciliationRun.account_id, load_default=None)


class RunQuery(Query):
    category = one_of(CATEGORIES)


class SchedulerRunsQuery(PageQuery):
    job = one_of(JOB_NAMES)
    status = one_of(sched.RUN_STATUSES)


def _settings() -> Any:
    return current_app.extensions["stockmirror"].settings


def _run_or_404(session: Any, run_id: int) -> Any:
    run = queries.find_run(session, run_id)
    if run is None:
        raise ApiError(f"reconciliation {run_id} not found", 404)
    return run


@bp.post("/reconciliations")
@operation(
    "Start a reconciliation with Starshipit now",
    query=AccountQuery,
    body=RunRequest,
    body_optional=True,
    responses={202: RunStarted},
    errors=(409,),
)
def create(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    acct = body["account_id"] or query["account_id"]
    with _launch_errors():
        run_id = launch_run(
            db(),
            _settings(),
            account_id=acct,
            since=body["since"],
            until=body["until"],
            trigger="api",
        )
    return _started(run_id)


@bp.post("/reconciliations/<int:run_id>/resume")
@operation(
    "Continue a failed or interrupted run from its first unfinished page",
    body=Strict,
    body_optional=True,
    responses={202: RunStarted},
    errors=(404, 409),
)
def resume(run_id: int, query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        acct = _run_or_404(session, run_id).account_id
    with _launch_errors():
        launch_resume(db(), _settings(), run_id, acct)
    return _started(run_id)


@contextmanager
def _launch_errors() -> Iterator[None]:
    """What starting or resuming a run can refuse, as API errors."""
    try:
        yield
    except StarshipitNotConfigured as error:
        raise ApiError(str(error), 503) from None
    except WindowError as error:
        raise ApiError(str(error), 422, fields={error.field: [str(error)]}) from None
    except ResumeRefused as error:
        raise ApiError(str(error), 409) from None
    except RunConflict as conflict:
        raise ApiError(str(conflict), 409, id=conflict.running_id) from None
    except LookupError as error:  # an account the configuration does not know
        raise ApiError(str(error), 422, fields={"account_id": [str(error)]}) from None


def _started(run_id: int) -> ResponseReturnValue:
    with db().read() as session:
        run = _run_or_404(session, run_id)
        return {"id": run.id, "status": run_json(run)["status"]}, 202


@bp.get("/reconciliations")
@operation(
    "Reconciliation runs, newest first", query=AccountFilterPageQuery, responses={200: RunPage}
)
def list_runs(query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        return paginate(session, queries.runs_query(query["account_id"]), query, run_json)


@bp.get("/reconciliations/<int:run_id>")
@operation("A run with its drift rows", query=RunQuery, responses={200: RunDetail}, errors=(404,))
def get(run_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        run = _run_or_404(session, run_id)
        return queries.run_with_drift(session, run, query["category"], MAX_INLINE_DRIFT)


@bp.get("/reconciliations/<int:run_id>.csv")
@operation("A run's drift rows as CSV", responses={200: "text/csv"}, errors=(404,))
def get_csv(run_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        run = _run_or_404(session, run_id)
    return drift_csv_response(db(), run, ZoneInfo(_settings().timezone))


@bp.get("/reconciliations/<int:run_id>.html")
@operation("A run's report as an HTML page", responses={200: "text/html"}, errors=(404,))
def get_html(run_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        run = _run_or_404(session, run_id)
        total, drift = queries.drift_rows(session, run_id, MAX_INLINE_DRIFT)
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
@operation(
    "Apply the run's repairable rows through the order_shipped path",
    body=Strict,
    body_optional=True,
    responses={200: Anything},
    errors=(404, 409),
)
def repair(run_id: int, query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    try:
        result = repair_run(db(), run_id)
    except LookupError as error:
        raise ApiError(str(error), 404) from None
    except RepairRefused as error:
        raise ApiError(str(error), 409) from None
    return result.to_dict(), 200


@bp.get("/scheduler/runs")
@operation("Scheduled job runs", query=SchedulerRunsQuery, responses={200: Anything})
def scheduler_runs(query: dict[str, Any]) -> ResponseReturnValue:
    stmt = sched.runs_query(query["job"], query["status"])
    with db().read() as session:
        return paginate(session, stmt, query, sched.run_json)


@bp.post("/tracking-events/<path:event_id>/retry")
@operation(
    "Fetch a tracking event's order from Starshipit again now",
    query=AccountQuery,
    body=Strict,
    body_optional=True,
    errors=(404, 409),
)
def retry_tracking(
    event_id: str, query: dict[str, Any], body: dict[str, Any]
) -> ResponseReturnValue:
    acct = query["account_id"]
    try:
        client = client_from_settings(_settings(), acct, max_retries=0)
    except StarshipitNotConfigured as error:
        raise ApiError(str(error), 503) from None
    except LookupError as error:
        raise ApiError(str(error), 422, fields={"account_id": [str(error)]}) from None
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
