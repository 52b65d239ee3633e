"""Reviewing a drift report: its money facts, notes people add (an append-only trail),
pages and totals for the console, the CSV, and a rehearsed preview of a repair."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.db import Database
from app.reconcile import repository as repo
from app.reconcile import review_repository as review_repo
from app.reconcile.domain import REPAIRABLE, DriftFilter
from app.reconcile.models import ReconciliationRun
from app.reconcile.service import group_by_order, repair_order_rows, repairable_run
from app.reconcile.valuation import NOTE_STATES, Facts, check_note, drift_facts
from app.timeutil import utcnow

FACTS_CHUNK = 1000
CSV_CHUNK = 1000
PREVIEW_ORDERS = 50  # orders per repair preview; the confirmation repairs exactly these


class NoteRefused(ValueError):
    pass


# --- facts -----------------------------------------------------------------------------


def ensure_facts(db: Database, run_ids: Sequence[int]) -> None:
    """Work out the money facts of drift rows that have none yet (new runs, rows a resumed
    run added). Cheap when every row has them: one count per table."""
    with db.read() as session:
        counts = review_repo.counts_by_run(session, run_ids)
    for run_id, (rows, with_facts) in counts.items():
        if rows != with_facts:
            _build_facts(db, run_id)


def _build_facts(db: Database, run_id: int) -> None:
    after = 0
    while True:
        with db.write() as session:
            account_id = review_repo.run_account(session, run_id) or "default"
            rows = review_repo.rows_without_facts(session, run_id, after, FACTS_CHUNK)
            if not rows:
                return
            mirror = review_repo.mirror_values(
                session, account_id, [r.order_id for r in rows if r.order_id is not None]
            )
            facts: dict[int, Facts] = {}
            for r in rows:
                known = mirror.get(r.order_id) if r.order_id is not None else None
                facts[r.id] = drift_facts(
                    category=r.category,
                    sku=r.sku,
                    expected=r.expected,
                    actual=r.actual,
                    snapshot=r.snapshot,
                    mirror_lines=known.lines if known else {},
                    mirror_shipped_at=known.shipped_at if known else None,
                )
            review_repo.insert_facts(session, run_id, facts)
        after = rows[-1].id


# --- read models -------------------------------------------------------------------------


def run_of(db: Database, run_id: int) -> ReconciliationRun | None:
    with db.read() as session:
        return repo.get_run(session, run_id)


@dataclass
class RunList:
    runs: list[ReconciliationRun]
    values: dict[int, Any]


def recent_runs(db: Database, account_id: str | None, limit: int) -> RunList:
    with db.read() as session:
        runs = review_repo.recent_runs(session, account_id, limit)
    ensure_facts(db, [r.id for r in runs if r.status != "running"])
    with db.read() as session:
        values = review_repo.value_by_run(session, [r.id for r in runs])
    return RunList(runs, values)


@dataclass
class DriftReport:
    run: ReconciliationRun
    rows: list[Any]
    totals: Any
    states: dict[str, int]
    drift_total: int


def drift_report(
    db: Database,
    run_id: int,
    flt: DriftFilter,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> DriftReport | None:
    ensure_facts(db, [run_id])
    with db.read() as session:
        run = repo.get_run(session, run_id)
        if run is None:
            return None
        rows = review_repo.drift_page(
            session, run_id, flt, sort=sort, descending=descending, offset=offset, limit=limit
        )
        totals, states = review_repo.review_summary(session, run_id, flt)
        return DriftReport(run, rows, totals, states, sum(states.values()))


@dataclass
class DriftDetail:
    run: ReconciliationRun
    row: Any
    notes: list[Any]


def drift_detail(db: Database, run_id: int, drift_id: int) -> DriftDetail | None:
    ensure_facts(db, [run_id])
    with db.read() as session:
        run = repo.get_run(session, run_id)
        row = review_repo.drift_row(session, run_id, drift_id) if run else None
        if run is None or row is None:
            return None
        return DriftDetail(run, row, review_repo.notes_of(session, drift_id))


def csv_rows(db: Database, run_id: int) -> Iterator[Any]:
    """Every drift row of a run with facts and review state, by id, in keyset chunks
    (bounded memory, short read transactions)."""
    ensure_facts(db, [run_id])
    after = 0
    while True:
        with db.read() as session:
            chunk = review_repo.drift_chunk(session, run_id, after, CSV_CHUNK)
        if not chunk:
            return
        after = chunk[-1].id
        yield from chunk


# --- notes ---------------------------------------------------------------------------------


def annotate(db: Database, run_id: int, drift_id: int, state: str, note: str, actor: str) -> None:
    """Add a note that acknowledges, resolves or reopens a drift row (kept for good)."""
    if state not in NOTE_STATES:
        raise NoteRefused(f"state must be one of {', '.join(NOTE_STATES)}")
    try:
        text = check_note(note)
    except ValueError as error:
        raise NoteRefused(str(error)) from None
    with db.write() as session:
        if not review_repo.drift_exists(session, run_id, drift_id):
            raise LookupError(f"reconciliation {run_id} has no drift row {drift_id}")
        review_repo.add_note(
            session,
            run_id=run_id,
            drift_id=drift_id,
            status=state,
            note=text,
            actor=actor,
            now=utcnow(),
        )


# --- repair preview ------------------------------------------------------------------------


@dataclass
class RepairPreview:
    run_id: int
    rows: list[int] = field(default_factory=list)  # drift rows the confirmation repairs
    movements: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    orders: int = 0
    more: bool = False  # repairable rows beyond this preview remain


def preview_repair(db: Database, run_id: int, max_orders: int = PREVIEW_ORDERS) -> RepairPreview:
    """Which movements a repair of the next `max_orders` orders would post, found by
    running that very repair in a transaction that is rolled back."""
    account_id = repairable_run(db, run_id)
    with db.read() as session:
        pending = review_repo.pending_repair_rows(session, run_id, REPAIRABLE, max_orders * 20)
    groups = group_by_order(pending)
    chosen = list(groups.items())[:max_orders]
    preview = RepairPreview(
        run_id, more=len(groups) > max_orders or len(pending) == max_orders * 20
    )
    numbers = {}
    with db.rehearse() as session:
        for order_id, ids in chosen:
            preview.rows.extend(ids)
            _, skipped, event_id = repair_order_rows(
                session, account_id, run_id, order_id, ids, "preview"
            )
            preview.skipped.extend(skipped)
            if event_id is None or order_id is None:
                continue
            preview.orders += 1
            numbers[order_id] = review_repo.order_number(session, account_id, order_id)
            preview.movements.extend(
                _movement(m, numbers[order_id])
                for m in review_repo.movements_of_event(session, account_id, order_id, event_id)
            )
    return preview


def _movement(m: sa.Row[Any], order_number: str | None) -> dict[str, Any]:
    return {
        "order_id": m.order_id,
        "order_number": order_number,
        "sku": m.sku,
        "location": m.location,
        "batch": m.batch or None,
        "quantity": m.quantity,
        "type": m.type,
    }
