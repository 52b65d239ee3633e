"""Finance pages: reconciliation runs (run now, resume), a drift report (filter, sort,
page, totals), notes on drift rows, the repair preview and its confirmation, the CSV."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.config import Settings
from app.console import charts, params
from app.console.auth import acts_on, current_user, database
from app.console.format import run_status
from app.console.routes import bp
from app.reconcile import review
from app.reconcile.client import StarshipitNotConfigured
from app.reconcile.csv_response import drift_csv_response
from app.reconcile.domain import CATEGORIES, DRIFT_SORTS, REPAIRABLE, DriftFilter
from app.reconcile.launch import launch_resume, launch_run
from app.reconcile.service import (
    RESUMABLE,
    RepairRefused,
    ResumeRefused,
    RunConflict,
    WindowError,
    repair_run,
)
from app.reconcile.valuation import (
    CATEGORY_WORDS,
    NOTE_STATES,
    REVIEW_STATES,
    STATE_WORDS,
)
from app.users.domain import RECONCILIATIONS

RUNS_SHOWN = 30
CHART_RUNS = 20
ROWS_PER_PAGE = 100


def _settings() -> Settings:
    settings: Settings = current_app.extensions["stockmirror"].settings
    return settings


@bp.get("/reconciliations")
def reconciliations() -> ResponseReturnValue:
    acct = params.text("account_id", max_len=100)
    listed = review.recent_runs(database(), acct, RUNS_SHOWN)
    running = any(run_status(r) == "running" for r in listed.runs)
    chart = charts.drift_history(list(reversed(listed.runs[:CHART_RUNS])), listed.values)
    return render_template(
        "console/reconciliations.html",
        runs=listed.runs,
        values=listed.values,
        history_chart=chart,
        categories=CATEGORIES,
        category_words=CATEGORY_WORDS,
        refresh_seconds=3 if running else None,
        can_act=current_user().may_act(RECONCILIATIONS),
        resumable=RESUMABLE,
    )


@bp.post("/reconciliations/run")
@acts_on(RECONCILIATIONS)
def reconciliation_run() -> ResponseReturnValue:
    since = params.local_time("since", request.form)
    until = params.local_time("until", request.form)
    acct = params.text("account_id", request.form, max_len=100) or "default"
    try:
        run_id = launch_run(
            database(), _settings(), account_id=acct, since=since, until=until, trigger="console"
        )
    except (StarshipitNotConfigured, LookupError) as error:
        flash(f"Cannot run: {error}.", "error")
        return redirect(url_for("console.reconciliations"), 303)
    except RunConflict as conflict:
        flash(f"Cannot run: {conflict}.", "error")
        return redirect(url_for("console.reconciliation", run_id=conflict.running_id), 303)
    except WindowError as error:
        params.refuse(error.field, str(error))
    flash(f"Reconciliation {run_id} started.")
    return redirect(url_for("console.reconciliation", run_id=run_id), 303)


@bp.post("/reconciliations/<int:run_id>/resume")
@acts_on(RECONCILIATIONS)
def reconciliation_resume(run_id: int) -> ResponseReturnValue:
    run = review.run_of(database(), run_id)
    if run is None:
        abort(404, description=f"No reconciliation {run_id}.")
    try:
        launch_resume(database(), _settings(), run_id, run.account_id)
    except (StarshipitNotConfigured, LookupError, ResumeRefused, RunConflict) as error:
        abort(409, description=f"Cannot resume: {error}.")
    flash(f"Reconciliation {run_id} is resuming.")
    return redirect(url_for("console.reconciliation", run_id=run_id), 303)


def _drift_filter() -> DriftFilter:
    return DriftFilter(
        categories=params.choices("category", CATEGORIES),
        sku=params.text("sku", max_len=50),
        order_number=params.text("order_number", max_len=100),
        states=params.choices("status", REVIEW_STATES),
    )


@bp.get("/reconciliations/<int:run_id>")
def reconciliation(run_id: int) -> ResponseReturnValue:
    flt = _drift_filter()
    sort = params.choice("sort", DRIFT_SORTS, "id")
    descending = params.choice("dir", ("asc", "desc"), "asc") == "desc"
    page_no = params.whole("page", 1, maximum=100_000)
    report = review.drift_report(
        database(),
        run_id,
        flt,
        sort=sort,
        descending=descending,
        offset=(page_no - 1) * ROWS_PER_PAGE,
        limit=ROWS_PER_PAGE,
    )
    if report is None:
        abort(404, description=f"No reconciliation {run_id}.")
    args = {k: v for k, v in request.args.to_dict(flat=False).items() if k != "page"}
    return render_template(
        "console/report.html",
        report=report,
        run=report.run,
        flt=flt,
        sort=sort,
        descending=descending,
        page_no=page_no,
        pages=max(1, -(-int(report.totals.rows) // ROWS_PER_PAGE)),
        args=args,
        categories=CATEGORIES,
        category_words=CATEGORY_WORDS,
        states=REVIEW_STATES,
        state_words=STATE_WORDS,
        refresh_seconds=3 if run_status(report.run) == "running" else None,
        can_act=current_user().may_act(RECONCILIATIONS),
        repairable=REPAIRABLE,
        resumable=RESUMABLE,
    )


@bp.get("/reconciliations/<int:run_id>.csv")
def reconciliation_csv(run_id: int) -> ResponseReturnValue:
    run = review.run_of(database(), run_id)
    if run is None:
        abort(404, description=f"No reconciliation {run_id}.")
    return drift_csv_response(database(), run, params.zone())


@bp.get("/reconciliations/<int:run_id>/drift/<int:drift_id>")
def drift(run_id: int, drift_id: int) -> ResponseReturnValue:
    detail = review.drift_detail(database(), run_id, drift_id)
    if detail is None:
        abort(404, description=f"No drift row {drift_id} in reconciliation {run_id}.")
    return render_template(
        "console/drift.html",
        d=detail.row,
        run=detail.run,
        notes=detail.notes,
        category_words=CATEGORY_WORDS,
        state_words=STATE_WORDS,
        note_states=NOTE_STATES,
        back=params.text("back", max_len=2000),
        can_act=current_user().may_act(RECONCILIATIONS),
    )


@bp.post("/reconciliations/<int:run_id>/drift/<int:drift_id>")
@acts_on(RECONCILIATIONS)
def drift_note(run_id: int, drift_id: int) -> ResponseReturnValue:
    state = request.form.get("state", "")
    note = params.free_text("note", 5000)
    try:
        review.annotate(database(), run_id, drift_id, state, note, current_user().email)
    except review.NoteRefused as error:
        params.refuse("note" if state in NOTE_STATES else "state", str(error))
    except LookupError:
        abort(404, description=f"No drift row {drift_id} in reconciliation {run_id}.")
    flash(f"Row {drift_id}: {STATE_WORDS[state].lower()}.")
    back = request.form.get("back", "")
    if back.startswith(f"/reconciliations/{run_id}") and not back.startswith("//"):
        return redirect(back, 303)
    return redirect(url_for("console.reconciliation", run_id=run_id), 303)


@bp.get("/reconciliations/<int:run_id>/repair")
@acts_on(RECONCILIATIONS)
def repair_preview(run_id: int) -> ResponseReturnValue:
    try:
        preview = review.preview_repair(database(), run_id)
    except LookupError:
        abort(404, description=f"No reconciliation {run_id}.")
    except RepairRefused as error:
        abort(409, description=str(error))
    return render_template("console/repair.html", preview=preview, run_id=run_id)


@bp.post("/reconciliations/<int:run_id>/repair")
@acts_on(RECONCILIATIONS)
def repair_confirm(run_id: int) -> ResponseReturnValue:
    rows = params.ids("row", request.form)
    if request.form.get("confirm") != "yes" or not rows:
        params.refuse("confirm", "confirm the previewed repair")
    try:
        result = repair_run(database(), run_id, actor=current_user().email, only=rows)
    except LookupError:
        abort(404, description=f"No reconciliation {run_id}.")
    except RepairRefused as error:
        abort(409, description=str(error))
    review.ensure_facts(database(), [run_id])
    flash(
        f"Repaired {result.repaired} row{'s' if result.repaired != 1 else ''} "
        f"on {result.orders} order{'s' if result.orders != 1 else ''}"
        + (f"; {len(result.skipped)} skipped" if result.skipped else "")
        + "."
    )
    return redirect(url_for("console.reconciliation", run_id=run_id), 303)
