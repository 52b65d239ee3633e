"""The few aggregate reads a metrics scrape makes (each served by an index)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.reconcile.models import ReconciliationRun, SchedulerRun
from app.webhooks.models import REPLAYABLE_STATUSES, InboxEvent

FINISHED_RUN_STATUSES = ("done", "failed", "skipped")


@dataclass
class Snapshot:
    inbox: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)
    last_runs: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    scheduler_runs: dict[tuple[str, str], int] = field(default_factory=dict)


def snapshot(session: Session) -> Snapshot:
    return Snapshot(
        inbox=_inbox(session), last_runs=_last_runs(session), scheduler_runs=_runs(session)
    )


def _inbox(session: Session) -> dict[str, tuple[int, datetime | None]]:
    rows = session.execute(
        sa.select(InboxEvent.status, sa.func.count(), sa.func.min(InboxEvent.received_at))
        .where(InboxEvent.status.in_(REPLAYABLE_STATUSES))
        .group_by(InboxEvent.status)
    )
    return {status: (int(count), first) for status, count, first in rows}


def _last_runs(session: Session) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """Per account, the newest successful reconciliation: when it finished, its summary."""
    run = ReconciliationRun
    latest = (
        sa.select(run.account_id, sa.func.max(run.finished_at).label("at"))
        .where(run.status == "done")
        .group_by(run.account_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(run.account_id, run.finished_at, run.summary)
        .join(
            latest,
            sa.and_(run.account_id == latest.c.account_id, run.finished_at == latest.c.at),
        )
        .where(run.status == "done")
    )
    return {
        account: (finished, dict(summary or {}))
        for account, finished, summary in rows
        if finished is not None
    }


def _runs(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        sa.select(SchedulerRun.job, SchedulerRun.status, sa.func.count())
        .where(SchedulerRun.status.in_(FINISHED_RUN_STATUSES))
        .group_by(SchedulerRun.job, SchedulerRun.status)
    )
    return {(job, status): int(count) for job, status, count in rows}
