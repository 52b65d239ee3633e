"""Report renderings: JSON bodies, CSV (RFC 4180, formula-escaped), data for the HTML page."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.reconcile.domain import effective_status
from app.reconcile.models import ReconciliationDrift, ReconciliationRun
from app.reconcile.valuation import STATE_WORDS, category_words
from app.timeutil import as_utc, isoformat, local_text, utcnow

# The drift CSV (console download and GET /api/reconciliations/{id}.csv): columns a
# spreadsheet user reads without a glossary; numbers stay numbers, times are local.
CSV_COLUMNS = (
    "order_number",
    "sku",
    "category",
    "starshipit_qty",
    "ledger_qty",
    "difference",
    "unit_value",
    "value",
    "shipped_at",
    "detail",
    "status",
    "note",
)
# A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CENT = Decimal("0.01")


def escape_cell(value: Any) -> str:
    """A cell as text: numbers as they are (a spreadsheet reads -5 as minus five), text
    that a spreadsheet would run as a formula prefixed with a quote."""
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def money(value: Decimal | None) -> Decimal | None:
    """An amount to the cent (half up), as a number."""
    if value is None:
        return None
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def unit_money(value: Decimal | None) -> Decimal | None:
    """A unit value: at least cents, up to the four places it is kept with."""
    if value is None:
        return None
    exact = Decimal(value).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    cents = exact.quantize(CENT)
    return cents if cents == exact else exact.normalize()


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


def csv_values(row: Any, zone: tzinfo) -> tuple[Any, ...]:
    """One reviewed drift row (see reconcile.review_repository) in CSV_COLUMNS order."""
    return (
        row.order_number,
        row.sku,
        category_words(row.category),
        row.starshipit_qty,
        row.ledger_qty,
        row.difference,
        unit_money(row.unit_value),
        money(row.value),
        local_text(row.shipped_at, zone),
        row.detail,
        STATE_WORDS.get(row.state, row.state),
        row.note,
    )


def csv_filename(run: ReconciliationRun, zone: tzinfo) -> str:
    """reconciliation-<id>-<account>-<since>-to-<until>.csv (local times, safe characters)."""
    account = re.sub(r"[^A-Za-z0-9_-]+", "_", run.account_id)[:40] or "account"
    since = as_utc(run.since).astimezone(zone).strftime("%Y%m%d-%H%M")
    until = as_utc(run.until).astimezone(zone).strftime("%Y%m%d-%H%M")
    return f"reconciliation-{run.id}-{account}-{since}-to-{until}.csv"


def csv_lines(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """The header, then one RFC 4180 line per row (CRLF, quoted when needed)."""
    return table_lines(CSV_COLUMNS, rows)


def table_lines(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Any table as RFC 4180 CSV lines, formula-escaped (pick lists use it too)."""
    yield _line(columns)
    for values in rows:
        yield _line(values)
