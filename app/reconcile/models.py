"""Reconciliation reports, scheduler runs and the polling cursor (issue 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.timeutil import utcnow


class ReconciliationRun(Base):
    """One comparison of Starshipit against the mirror and ledger over a window."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        sa.Index("ix_reconciliation_runs_account_status", "account_id", "status"),
        # At most one running run per account (POST /api/reconciliations answers 409).
        sa.Index(
            "ux_reconciliation_runs_one_running",
            "account_id",
            unique=True,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(16))  # running|done|failed|interrupted
    trigger: Mapped[str] = mapped_column(sa.String(20))  # api | cli | scheduler
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    api_calls: Mapped[int] = mapped_column(sa.Integer, default=0)
    pages: Mapped[int] = mapped_column(sa.Integer, default=0)
    checked: Mapped[int] = mapped_column(sa.Integer, default=0)
    matched: Mapped[int] = mapped_column(sa.Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # The running process renews the lease; a `running` run whose lease ran out was
    # interrupted (its process died) and can be resumed from `progress`.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))  # the process's claim
    progress: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class ReconciliationDrift(Base):
    """One thing that does not line up. `snapshot` is Starshipit's order as fetched, kept
    for repairable rows; `snapshot_at` is the time the repair's event will carry."""

    __tablename__ = "reconciliation_drift"
    __table_args__ = (sa.Index("ix_reconciliation_drift_run_id", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("reconciliation_runs.id"))
    category: Mapped[str] = mapped_column(sa.String(30))
    order_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    order_number: Mapped[str | None] = mapped_column(sa.String(100))
    sku: Mapped[str | None] = mapped_column(sa.String(50))
    expected: Mapped[str | None] = mapped_column(sa.String(100))
    actual: Mapped[str | None] = mapped_column(sa.String(100))
    detail: Mapped[str] = mapped_column(sa.Text)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repair_event_id: Mapped[str | None] = mapped_column(sa.String(200))


class ReconciliationSeen(Base):
    """Starshipit order ids a running reconciliation has seen (scratch, cleared at the end);
    lets the ledger side be compared with one anti-join instead of a set in memory."""

    __tablename__ = "reconciliation_seen"

    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), primary_key=True
    )
    order_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)


class SchedulerSlot(Base):
    """A claimed (job, fire time): inserting it is how one scheduler wins a slot."""

    __tablename__ = "scheduler_slots"

    job: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    slot: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SchedulerRun(Base):
    """Every run, skip and failure of a scheduled job (visible at /api/scheduler/runs)."""

    __tablename__ = "scheduler_runs"
    __table_args__ = (sa.Index("ix_scheduler_runs_job_status", "job", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(sa.String(50))
    slot: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16))  # running | done | failed | skipped
    scheduler: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(sa.Text)


class PollCursor(Base):
    """Where polling of Starshipit's unshipped orders got to; survives restarts."""

    __tablename__ = "poll_cursors"

    account_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    cursor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
