"""The only code that reads and writes reconciliation tables (and the set-based reads of
the mirror and ledger a reconciliation needs: one IN-list query per table per page)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import insert_for
from app.ledger.domain import SHIPMENT_TYPES
from app.ledger.models import StockBalance, StockMovement
from app.orders.domain import Line, demand_by_sku, nonstock_demand
from app.orders.models import Order, OrderLine
from app.reconcile.domain import Drift, MirrorOrder
from app.reconcile.models import (
    PollCursor,
    ReconciliationDrift,
    ReconciliationRun,
    ReconciliationSeen,
    SchedulerRun,
    SchedulerSlot,
)
from app.timeutil import utcnow
from app.webhooks.models import InboxEvent


def create_run(
    session: Session,
    *,
    account_id: str,
    since: datetime,
    until: datetime,
    trigger: str,
    owner: str,
    lease_until: datetime,
    progress: dict[str, Any],
) -> int:
    """A new running run (IntegrityError when the account already has one running)."""
    run = ReconciliationRun(
        account_id=account_id,
        status="running",
        trigger=trigger,
        since=since,
        until=until,
        started_at=utcnow(),
        api_calls=0,
        pages=0,
        checked=0,
        matched=0,
        summary={},
        lease_owner=owner,
        lease_until=lease_until,
        progress=progress,
    )
    session.add(run)
    session.flush()
    return run.id


def expire_leases(session: Session, account_id: str, now: datetime) -> None:
    """Runs of the account left `running` by a process that stopped renewing its lease
    are `interrupted` (resumable)."""
    session.execute(
        sa.update(ReconciliationRun)
        .where(
            ReconciliationRun.account_id == account_id,
            ReconciliationRun.status == "running",
            ReconciliationRun.lease_until < now,
        )
        .values(status="interrupted", lease_owner=None)
    )


def running_run_id(session: Session, account_id: str) -> int | None:
    return session.scalar(
        sa.select(ReconciliationRun.id).where(
            ReconciliationRun.account_id == account_id, ReconciliationRun.status == "running"
        )
    )


def claim_for_resume(
    session: Session, run_id: int, owner: str, lease_until: datetime, resumable: Sequence[str]
) -> bool:
    """Take a failed or interrupted run back to running under a new lease."""
    result = session.execute(
        sa.update(ReconciliationRun)
        .where(ReconciliationRun.id == run_id, ReconciliationRun.status.in_(resumable))
        .values(
            status="running",
            lease_owner=owner,
            lease_until=lease_until,
            error=None,
            finished_at=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def update_owned_run(session: Session, run_id: int, owner: str, **values: Any) -> bool:
    """Update a running run only while this process still holds its lease."""
    result = session.execute(
        sa.update(ReconciliationRun)
        .where(
            ReconciliationRun.id == run_id,
            ReconciliationRun.status == "running",
            ReconciliationRun.lease_owner == owner,
        )
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def drift_counts(session: Session, run_id: int) -> dict[str, int]:
    rows = session.execute(
        sa.select(ReconciliationDrift.category, sa.func.count())
        .where(ReconciliationDrift.run_id == run_id)
        .group_by(ReconciliationDrift.category)
    )
    return {category: int(n) for category, n in rows}


def seen_among(session: Session, run_id: int, order_ids: Sequence[int]) -> set[int]:
    if not order_ids:
        return set()
    return set(
        session.scalars(
            sa.select(ReconciliationSeen.order_id).where(
                ReconciliationSeen.run_id == run_id,
                ReconciliationSeen.order_id.in_(sorted(set(order_ids))),
            )
        )
    )


def get_run(session: Session, run_id: int) -> ReconciliationRun | None:
    return session.get(ReconciliationRun, run_id)


def last_done_until(session: Session, account_id: str) -> datetime | None:
    return session.scalar(
        sa.select(sa.func.max(ReconciliationRun.until)).where(
            ReconciliationRun.account_id == account_id, ReconciliationRun.status == "done"
        )
    )


def runs_query(account_id: str | None) -> sa.Select:
    stmt = sa.select(ReconciliationRun)
    if account_id:
        stmt = stmt.where(ReconciliationRun.account_id == account_id)
    return stmt.order_by(ReconciliationRun.id.desc())


def mirror_orders(
    session: Session, account_id: str, order_ids: Sequence[int]
) -> dict[int, MirrorOrder]:
    """Mirror + ledger state of these orders: three indexed IN-list queries (orders by
    (account, order_id), their lines by order_pk, ledger shipments by (account, order_id))."""
    if not order_ids:
        return {}
    ids = sorted(set(order_ids))
    headers = session.execute(
        sa.select(
            Order.id,
            Order.order_id,
            Order.order_number,
            Order.status,
            Order.content_at,
            Order.shipped_at,
            Order.deleted_at,
            Order.nonstock_shipped,
        ).where(Order.account_id == account_id, Order.order_id.in_(ids))
    ).all()
    if not headers:
        return {}
    by_pk = {h.id: h.order_id for h in headers}
    lines: dict[int, list[Line]] = {}
    for pk, sku, quantity in session.execute(
        sa.select(OrderLine.order_pk, OrderLine.sku, OrderLine.quantity).where(
            OrderLine.order_pk.in_(sorted(by_pk))
        )
    ):
        lines.setdefault(by_pk[pk], []).append(Line(sku=sku, quantity=int(quantity)))
    shipped = ledger_shipped(session, account_id, [h.order_id for h in headers])
    result = {}
    for h in headers:
        stamps = [t for t in (h.content_at, h.shipped_at, h.deleted_at) if t is not None]
        own = lines.get(h.order_id, [])
        result[h.order_id] = MirrorOrder(
            order_id=h.order_id,
            order_number=h.order_number,
            status=h.status,
            demand=demand_by_sku(own),
            shipped=shipped.get(h.order_id, {}),
            newest=max(stamps) if stamps else None,
            nonstock_demand=nonstock_demand(own),
            nonstock_shipped=int(h.nonstock_shipped or 0),
        )
    return result


def ledger_shipped(
    session: Session, account_id: str, order_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    if not order_ids:
        return {}
    rows = session.execute(
        sa.select(
            StockMovement.order_id,
            StockMovement.sku,
            sa.func.sum(StockMovement.quantity).label("total"),
        )
        .where(
            StockMovement.account_id == account_id,
            StockMovement.order_id.in_(sorted(set(order_ids))),
            StockMovement.type.in_(SHIPMENT_TYPES),
        )
        .group_by(StockMovement.order_id, StockMovement.sku)
    )
    result: dict[int, dict[str, int]] = {}
    for r in rows:
        if r.total:
            result.setdefault(int(r.order_id), {})[r.sku] = -int(r.total)
    return result


def add_drift(session: Session, run_id: int, drift: Iterable[Drift]) -> int:
    rows = [
        {
            "run_id": run_id,
            "category": d.category,
            "order_id": d.order_id,
            "order_number": d.order_number,
            "sku": d.sku,
            "expected": d.expected,
            "actual": d.actual,
            "detail": d.detail,
            "snapshot": dict(d.snapshot) if d.snapshot is not None else None,
            "snapshot_at": d.snapshot_at,
        }
        for d in drift
    ]
    if rows:
        session.execute(sa.insert(ReconciliationDrift), rows)
    return len(rows)


def mark_seen(session: Session, run_id: int, order_ids: Iterable[int]) -> None:
    ids = sorted(set(order_ids))
    if not ids:
        return
    stmt = insert_for(session, ReconciliationSeen).on_conflict_do_nothing(
        index_elements=["run_id", "order_id"]
    )
    # executemany: one cached statement (insertmanyvalues batches it), not a new SQL per page
    session.execute(stmt, [{"run_id": run_id, "order_id": oid} for oid in ids])


def clear_seen(session: Session, run_id: int) -> None:
    session.execute(sa.delete(ReconciliationSeen).where(ReconciliationSeen.run_id == run_id))


def unlisted_shipped_orders(
    session: Session,
    *,
    run_id: int,
    account_id: str,
    since: datetime,
    until: datetime,
    after_pk: int,
    limit: int,
) -> list[tuple[int, int]]:
    """(pk, order_id) of orders whose shipment the mirror applied in the window but that
    Starshipit's lists did not contain: one anti-join, keyset-paginated by pk."""
    seen = sa.select(ReconciliationSeen.order_id).where(
        ReconciliationSeen.run_id == run_id, ReconciliationSeen.order_id == Order.order_id
    )
    rows = session.execute(
        sa.select(Order.id, Order.order_id)
        .where(
            Order.account_id == account_id,
            Order.shipped_at.is_not(None),
            Order.shipped_at >= since,
            Order.shipped_at <= until,
            Order.id > after_pk,
            ~seen.exists(),
        )
        .order_by(Order.id)
        .limit(limit)
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def negative_skus(session: Session) -> list[tuple[str, int]]:
    total = sa.func.sum(StockBalance.on_hand)
    rows = session.execute(
        sa.select(StockBalance.sku, total.label("on_hand"))
        .group_by(StockBalance.sku)
        .having(total < 0)
        .order_by(StockBalance.sku)
    )
    return [(r.sku, int(r.on_hand)) for r in rows]


def drift_query(run_id: int, categories: Sequence[str] | None = None) -> sa.Select:
    stmt = sa.select(ReconciliationDrift).where(ReconciliationDrift.run_id == run_id)
    if categories:
        stmt = stmt.where(ReconciliationDrift.category.in_(categories))
    return stmt.order_by(ReconciliationDrift.id)


def drift_count(session: Session, run_id: int) -> int:
    return int(
        session.scalar(sa.select(sa.func.count()).where(ReconciliationDrift.run_id == run_id)) or 0
    )


def repairable_after(
    session: Session,
    run_id: int,
    categories: Sequence[str],
    after_id: int,
    limit: int,
    *,
    only: Sequence[int] | None = None,
) -> list[tuple[int, int | None]]:
    """(row id, order_id) of the next repairable rows (of `only`, when given)."""
    stmt = (
        sa.select(ReconciliationDrift.id, ReconciliationDrift.order_id)
        .where(
            ReconciliationDrift.run_id == run_id,
            ReconciliationDrift.category.in_(categories),
            ReconciliationDrift.id > after_id,
        )
        .order_by(ReconciliationDrift.id)
        .limit(limit)
    )
    if only is not None:
        stmt = stmt.where(ReconciliationDrift.id.in_(sorted(set(only))))
    return [(int(r[0]), r[1]) for r in session.execute(stmt)]


def lock_drift_rows(session: Session, ids: Sequence[int]) -> list[ReconciliationDrift]:
    return list(
        session.scalars(
            sa.select(ReconciliationDrift)
            .where(ReconciliationDrift.id.in_(ids))
            .order_by(ReconciliationDrift.id)
            .with_for_update()
        )
    )


def get_cursor(session: Session, account_id: str, name: str) -> datetime | None:
    row = session.get(PollCursor, (account_id, name))
    return row.cursor_at if row else None


def set_cursor(session: Session, account_id: str, name: str, at: datetime) -> None:
    now = utcnow()
    stmt = insert_for(session, PollCursor).values(
        account_id=account_id, name=name, cursor_at=at, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "name"], set_={"cursor_at": at, "updated_at": now}
        )
    )


def mirror_lines(
    session: Session, account_id: str, order_ids: Sequence[int]
) -> dict[int, list[tuple[str | None, int]]]:
    """(sku, quantity) per line in line order (sku None: a non-stock line), for the
    polled orders the mirror has (one query)."""
    if not order_ids:
        return {}
    rows = session.execute(
        sa.select(Order.order_id, OrderLine.line_no, OrderLine.sku, OrderLine.quantity)
        .outerjoin(OrderLine, OrderLine.order_pk == Order.id)
        .where(Order.account_id == account_id, Order.order_id.in_(sorted(set(order_ids))))
        .order_by(Order.order_id, OrderLine.line_no)
    )
    result: dict[int, list[tuple[str | None, int]]] = {}
    for r in rows:
        lines = result.setdefault(int(r.order_id), [])
        if r.line_no is not None:  # the outer join's row of an order without lines
            lines.append((r.sku, int(r.quantity)))
    return result


def due_tracking(
    session: Session,
    source: str,
    now: datetime,
    limit: int,
    accounts: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    stmt = sa.select(InboxEvent.account_id, InboxEvent.event_id).where(
        InboxEvent.source == source,
        InboxEvent.status == "pending",
        sa.or_(InboxEvent.next_attempt_at.is_(None), InboxEvent.next_attempt_at <= now),
    )
    if accounts is not None:
        stmt = stmt.where(InboxEvent.account_id.in_(accounts))
    rows = session.execute(stmt.order_by(InboxEvent.id).limit(limit))
    return [(r[0], r[1]) for r in rows]


# -- scheduler ------------------------------------------------------------------------


def claim_slot(session: Session, job: str, slot: datetime) -> bool:
    """Insert (job, slot); True for the one caller that inserted it."""
    stmt = (
        insert_for(session, SchedulerSlot)
        .values(job=job, slot=slot, claimed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["job", "slot"])
        .returning(SchedulerSlot.job)
    )
    return session.execute(stmt).scalar() is not None


def job_running_since(session: Session, job: str, since: datetime) -> bool:
    return (
        session.scalar(
            sa.select(SchedulerRun.id)
            .where(
                SchedulerRun.job == job,
                SchedulerRun.status == "running",
                SchedulerRun.started_at > since,
            )
            .limit(1)
        )
        is not None
    )


def add_scheduler_run(session: Session, **values: Any) -> int:
    values.setdefault("started_at", utcnow())
    run = SchedulerRun(**values)
    session.add(run)
    session.flush()
    return run.id


def finish_scheduler_run(session: Session, run_id: int, status: str, detail: str | None) -> None:
    session.execute(
        sa.update(SchedulerRun)
        .where(SchedulerRun.id == run_id)
        .values(status=status, detail=detail, finished_at=utcnow())
    )


def scheduler_runs_query(jobs: Sequence[str], statuses: Sequence[str]) -> sa.Select:
    stmt = sa.select(SchedulerRun)
    if jobs:
        stmt = stmt.where(SchedulerRun.job.in_(jobs))
    if statuses:
        stmt = stmt.where(SchedulerRun.status.in_(statuses))
    return stmt.order_by(SchedulerRun.id.desc())
