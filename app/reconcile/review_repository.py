"""The only code that reads and writes drift notes and facts, and the read-model queries
of a drift review (one page, totals, CSV chunks). The review state of a row is worked out
here, in SQL, once (`review_state`): pages, filters, totals and the CSV all use it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from app.db import insert_for
from app.ledger.models import StockMovement
from app.orders.models import Order, OrderLine
from app.reconcile.domain import DRIFT_SORTS, DriftFilter
from app.reconcile.models import ReconciliationDrift, ReconciliationRun
from app.reconcile.review_models import DriftFact, DriftNote
from app.reconcile.valuation import ACKNOWLEDGED, OPEN, REPAIRED, RESOLVED, Facts

D, F = ReconciliationDrift, DriftFact
SORTS: dict[str, Any] = {
    "id": D.id,
    "order_number": D.order_number,
    "sku": D.sku,
    "category": D.category,
    "difference": F.difference,
    "value": F.value,
    "shipped_at": F.shipped_at,
}
assert tuple(SORTS) == DRIFT_SORTS


def _latest_note(run_id: int) -> tuple[Any, Any]:
    latest = (
        sa.select(DriftNote.drift_id, sa.func.max(DriftNote.id).label("note_id"))
        .where(DriftNote.run_id == run_id)
        .group_by(DriftNote.drift_id)
        .subquery("latest")
    )
    return latest, aliased(DriftNote, name="note")


def review_state(note: Any) -> sa.ColumnElement[str]:
    """The newest note's state; `repaired` when the row was repaired after it (or with no
    note); else `open`."""
    noted_last = sa.or_(D.repaired_at.is_(None), note.created_at > D.repaired_at)
    return sa.case(
        (sa.and_(note.status.is_not(None), noted_last), note.status),
        (D.repaired_at.is_not(None), sa.literal(REPAIRED)),
        else_=sa.literal(OPEN),
    )


def _rows(run_id: int, flt: DriftFilter) -> tuple[sa.Select, Any]:
    latest, note = _latest_note(run_id)
    state = review_state(note).label("state")
    stmt = (
        sa.select(
            D.id,
            D.category,
            D.order_id,
            D.order_number,
            D.sku,
            D.expected,
            D.actual,
            D.detail,
            D.repaired_at,
            F.starshipit_qty,
            F.ledger_qty,
            F.difference,
            F.unit_value,
            F.value,
            F.shipped_at,
            state,
            note.note.label("note"),
            note.actor.label("note_by"),
            note.created_at.label("note_at"),
        )
        .select_from(D)
        .outerjoin(F, F.drift_id == D.id)
        .outerjoin(latest, latest.c.drift_id == D.id)
        .outerjoin(note, note.id == latest.c.note_id)
        .where(D.run_id == run_id)
    )
    conditions = _conditions(flt, note)
    if conditions:
        stmt = stmt.where(*conditions)
    return stmt, state


def _conditions(flt: DriftFilter, note: Any) -> list[sa.ColumnElement[bool]]:
    found: list[sa.ColumnElement[bool]] = []
    if flt.categories:
        found.append(D.category.in_(flt.categories))
    if flt.sku:
        found.append(D.sku == flt.sku)
    if flt.order_number:
        found.append(D.order_number == flt.order_number)
    if flt.states:
        found.append(review_state(note).in_(flt.states))
    return found


def drift_page(
    session: Session,
    run_id: int,
    flt: DriftFilter,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[sa.Row[Any]]:
    stmt, _ = _rows(run_id, flt)
    column = SORTS[sort]
    order = column.desc() if descending else column.asc()
    tiebreak = D.id.desc() if descending else D.id.asc()
    ordered = [order.nulls_last(), tiebreak] if sort != "id" else [tiebreak]
    return list(session.execute(stmt.order_by(*ordered).offset(offset).limit(limit)))


@dataclass(frozen=True)
class Totals:
    rows: int
    units: int
    value: Decimal
    value_at_stake: Decimal


def review_summary(
    session: Session, run_id: int, flt: DriftFilter
) -> tuple[Totals, dict[str, int]]:
    """In one pass over the run's rows: rows, Σ difference, Σ value and Σ |value| of the
    rows the filter selects, and how many rows of the whole run are in each review state."""
    rows = _summary_rows(run_id, flt)
    picked = rows.c.selected == 1
    query = sa.select(
        rows.c.state,
        sa.func.count(),
        sa.func.count().filter(picked),
        sa.func.sum(rows.c.difference).filter(picked),
        sa.func.sum(rows.c.value).filter(picked),
        sa.func.sum(sa.func.abs(rows.c.value)).filter(picked),
    ).group_by(rows.c.state)
    counts = {s: 0 for s in (OPEN, ACKNOWLEDGED, RESOLVED, REPAIRED)}
    selected, units, value, stake = 0, 0, Decimal(0), Decimal(0)
    for name, n, chosen, diff, val, abs_val in session.execute(query):
        counts[name] = int(n)
        selected += int(chosen or 0)
        units += int(diff or 0)
        value += Decimal(val or 0)
        stake += Decimal(abs_val or 0)
    return Totals(selected, units, value, stake), counts


def _summary_rows(run_id: int, flt: DriftFilter) -> Any:
    latest, note = _latest_note(run_id)
    conditions = _conditions(flt, note)
    selected = sa.case((sa.and_(*conditions), 1), else_=0) if conditions else sa.literal(1)
    stmt = (
        sa.select(
            review_state(note).label("state"),
            F.difference,
            F.value,
            selected.label("selected"),
        )
        .select_from(D)
        .outerjoin(F, F.drift_id == D.id)
        .outerjoin(latest, latest.c.drift_id == D.id)
        .outerjoin(note, note.id == latest.c.note_id)
        .where(D.run_id == run_id)
    )
    return stmt.subquery("rows")


def drift_chunk(session: Session, run_id: int, after_id: int, limit: int) -> list[sa.Row[Any]]:
    """The next rows by id (CSV export: keyset chunks, short transactions)."""
    stmt, _ = _rows(run_id, DriftFilter())
    return list(session.execute(stmt.where(D.id > after_id).order_by(D.id).limit(limit)))


def drift_row(session: Session, run_id: int, drift_id: int) -> sa.Row[Any] | None:
    stmt, _ = _rows(run_id, DriftFilter())
    return session.execute(stmt.where(D.id == drift_id)).first()


def notes_of(session: Session, drift_id: int) -> list[DriftNote]:
    return list(
        session.scalars(
            sa.select(DriftNote).where(DriftNote.drift_id == drift_id).order_by(DriftNote.id)
        )
    )


def add_note(
    session: Session,
    *,
    run_id: int,
    drift_id: int,
    status: str,
    note: str,
    actor: str,
    now: datetime,
) -> None:
    session.add(
        DriftNote(
            run_id=run_id, drift_id=drift_id, status=status, note=note, actor=actor, created_at=now
        )
    )
    session.flush()


def drift_exists(session: Session, run_id: int, drift_id: int) -> bool:
    return session.scalar(sa.select(D.id).where(D.id == drift_id, D.run_id == run_id)) is not None


# --- facts -----------------------------------------------------------------------------


def counts_by_run(session: Session, run_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(drift rows, rows with facts) per run."""
    if not run_ids:
        return {}
    drift = {
        int(run): int(n)
        for run, n in session.execute(
            sa.select(D.run_id, sa.func.count()).where(D.run_id.in_(run_ids)).group_by(D.run_id)
        )
    }
    facts = {
        int(run): int(n)
        for run, n in session.execute(
            sa.select(F.run_id, sa.func.count()).where(F.run_id.in_(run_ids)).group_by(F.run_id)
        )
    }
    return {r: (int(drift.get(r, 0)), int(facts.get(r, 0))) for r in run_ids}


def value_by_run(session: Session, run_ids: Sequence[int]) -> dict[int, Decimal]:
    """Σ |value| of each run's drift rows (money at stake)."""
    if not run_ids:
        return {}
    stmt = (
        sa.select(F.run_id, sa.func.coalesce(sa.func.sum(sa.func.abs(F.value)), 0))
        .where(F.run_id.in_(run_ids))
        .group_by(F.run_id)
    )
    return {int(r): Decimal(v) for r, v in session.execute(stmt)}


def rows_without_facts(session: Session, run_id: int, after_id: int, limit: int) -> list[Any]:
    has_facts = sa.select(F.drift_id).where(F.drift_id == D.id).exists()
    stmt = (
        sa.select(D.id, D.category, D.order_id, D.sku, D.expected, D.actual, D.snapshot)
        .where(D.run_id == run_id, D.id > after_id, ~has_facts)
        .order_by(D.id)
        .limit(limit)
    )
    return list(session.execute(stmt))


@dataclass(frozen=True)
class MirrorValues:
    shipped_at: datetime | None
    lines: dict[str, list[tuple[int, Decimal | None]]]


def mirror_values(
    session: Session, account_id: str, order_ids: Iterable[int]
) -> dict[int, MirrorValues]:
    """Shipped time and (quantity, value) per SKU of the mirrored orders (one query)."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    stmt = (
        sa.select(
            Order.order_id, Order.shipped_at, OrderLine.sku, OrderLine.quantity, OrderLine.value
        )
        .outerjoin(OrderLine, OrderLine.order_pk == Order.id)
        .where(Order.account_id == account_id, Order.order_id.in_(ids))
    )
    out: dict[int, MirrorValues] = {}
    for oid, shipped_at, sku, quantity, value in session.execute(stmt):
        found = out.setdefault(int(oid), MirrorValues(shipped_at, {}))
        if sku is not None:
            found.lines.setdefault(sku, []).append((int(quantity or 0), value))
    return out


def insert_facts(session: Session, run_id: int, facts: Mapping[int, Facts]) -> None:
    rows = [
        {
            "drift_id": drift_id,
            "run_id": run_id,
            "starshipit_qty": f.starshipit_qty,
            "ledger_qty": f.ledger_qty,
            "difference": f.difference,
            "unit_value": f.unit_value,
            "value": f.value,
            "shipped_at": f.shipped_at,
        }
        for drift_id, f in facts.items()
    ]
    if rows:
        stmt = insert_for(session, DriftFact.__table__).on_conflict_do_nothing(
            index_elements=["drift_id"]
        )
        session.execute(stmt, rows)


def run_account(session: Session, run_id: int) -> str | None:
    return session.scalar(
        sa.select(ReconciliationRun.account_id).where(ReconciliationRun.id == run_id)
    )


def recent_runs(session: Session, account_id: str | None, limit: int) -> list[ReconciliationRun]:
    stmt = sa.select(ReconciliationRun)
    if account_id:
        stmt = stmt.where(ReconciliationRun.account_id == account_id)
    return list(session.scalars(stmt.order_by(ReconciliationRun.id.desc()).limit(limit)))


def pending_repair_rows(
    session: Session, run_id: int, categories: Sequence[str], limit: int
) -> list[tuple[int, int | None]]:
    """(row id, order id) of repairable rows not yet repaired, by id."""
    stmt = (
        sa.select(D.id, D.order_id)
        .where(D.run_id == run_id, D.category.in_(categories), D.repaired_at.is_(None))
        .order_by(D.id)
        .limit(limit)
    )
    return [(int(i), o) for i, o in session.execute(stmt)]


def movements_of_event(
    session: Session, account_id: str, order_id: int, event_id: str
) -> list[sa.Row[Any]]:
    """The movements an order event posted (by the order's index, then the event)."""
    stmt = (
        sa.select(
            StockMovement.order_id,
            StockMovement.sku,
            StockMovement.location,
            StockMovement.batch,
            StockMovement.quantity,
            StockMovement.type,
        )
        .where(
            StockMovement.account_id == account_id,
            StockMovement.order_id == order_id,
            StockMovement.event_id == event_id,
        )
        .order_by(StockMovement.id)
    )
    return list(session.execute(stmt))


def order_number(session: Session, account_id: str, order_id: int) -> str | None:
    return session.scalar(
        sa.select(Order.order_number).where(
            Order.account_id == account_id, Order.order_id == order_id
        )
    )
