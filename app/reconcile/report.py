"""Report renderings: JSON bodies, CSV (RFC 4180, formula-escaped), data for the HTML page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from app.reconcile.domain import effective_status
from app.reconcile.models import ReconciliationDrift, ReconciliationRun
from app.timeutil import isoformat, utcnow

CSV_COLUMNS = (
    "id",
    "run_id",
    "category",
    "order_id",
    "order_number",
    "sku",
    "expected",
    "actual",
    "detail",
    "repaired_at",
    "repair_event_id",
)
# A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def run_json(run: ReconciliationRun) -> dict[str, Any]:
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return {
        "id": run.id,
        "account_id": run.account_id,
        "status": effective_status(run.status, run.lease_until, utcnow()),
        "trigger": run.trigger,
        "started_at": isoformat(run.started_at),
        "finished_at": isoformat(run.finished_at),
        "duration_seconds": duration,
        "window": {"since": isoformat(run.since), "until": isoformat(run.until)},
        "api_calls": run.api_calls,
        "pages": run.pages,
        "checked": run.checked,
        "matched": run.matched,
        "summary": run.summary or {},
        "error": run.error,
    }


def drift_json(d: ReconciliationDrift) -> dict[str, Any]:
    return {
        "id": d.id,
        "category": d.category,
        "order_id": d.order_id,
        "order_number": d.order_number,
        "sku": d.sku,
        "expected": d.expected,
        "actual": d.actual,
        "detail": d.detail,
        "repairable": d.snapshot is not None,
        "repaired_at": isoformat(d.repaired_at),
        "repair_event_id": d.repair_event_id,
    }


def _line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([escape_cell(v) for v in values])
    return buffer.getvalue()


def csv_values(d: ReconciliationDrift) -> tuple[Any, ...]:
    """One drift row as CSV values, in CSV_COLUMNS order (read while the session is open)."""
    return (
        d.id,
        d.run_id,
        d.category,
        d.order_id,
        d.order_number,
        d.sku,
        d.expected,
        d.actual,
        d.detail,
        isoformat(d.repaired_at),
        d.repair_event_id,
    )


def csv_lines(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """The header, then one RFC 4180 line per row (CRLF, quoted when needed)."""
    yield _line(CSV_COLUMNS)
    for values in rows:
        yield _line(values)
