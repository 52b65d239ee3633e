"""Read-model queries of reconciliation runs and drift, named for the API and console."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.reconcile import repository as repo
from app.reconcile.models import ReconciliationRun
from app.reconcile.report import drift_json, run_json


def find_run(session: Session, run_id: int) -> ReconciliationRun | None:
    return repo.get_run(session, run_id)


def runs_query(account_id: str | None) -> sa.Select:
    return repo.runs_query(account_id)


def run_with_drift(
    session: Session, run: ReconciliationRun, categories: Sequence[str], limit: int
) -> dict[str, Any]:
    """A run's body with (at most `limit`) drift rows of the categories named (all: ())."""
    total = repo.drift_count(session, run.id)
    rows = session.scalars(repo.drift_query(run.id, categories).limit(limit))
    body = run_json(run)
    body["drift"] = [drift_json(d) for d in rows]
    body["drift_total"] = total
    body["drift_truncated"] = total > limit and not categories
    return body


def drift_rows(session: Session, run_id: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    total = repo.drift_count(session, run_id)
    return total, [drift_json(d) for d in session.scalars(repo.drift_query(run_id).limit(limit))]
