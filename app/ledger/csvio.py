"""Stock CSV import/export and ledger CSV export.

Import sets the on-hand level of each (sku, location, batch) row: the ledger gets one
`import` movement for counted − book per row that differs. Every row is checked before
anything is written; one bad row rejects the file (the error names the row and why).
The same file imported twice is a no-op (movement keys carry the file's digest).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import IMPORT, NewMovement
from app.ledger.service import post_movements
from app.timeutil import isoformat, utcnow

REQUIRED = ("sku", "location", "quantity")
OPTIONAL = ("batch", "expiry")
IGNORED = ("allocated", "available")  # written by `stock export`, read back as nothing
LEDGER_COLUMNS = (
    "id",
    "created_at",
    "sku",
    "location",
    "batch",
    "quantity",
    "type",
    "reference",
    "reason",
    "account_id",
    "order_id",
    "event_id",
    "actor",
)
_CHUNK = 500


@dataclass(frozen=True)
class StockRow:
    line: int  # 1-based line in the file (the header is line 1)
    sku: str
    location: str
    batch: str
    quantity: int
    expiry: date | None


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"row {self.line}: {self.message}"


class ImportRejected(Exception):
    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing was imported")
        self.errors = list(errors)


@dataclass(frozen=True)
class ImportResult:
    rows: int
    movements: int
    digest: str
    already_imported: bool


def parse_stock_csv(text: str) -> tuple[list[StockRow], list[RowError]]:
    """Syntax and per-row checks (no database)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [RowError(1, f"header lacks column(s) {', '.join(missing)}")]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL + IGNORED]
    if unknown:
        return [], [RowError(1, f"unknown column(s) {', '.join(unknown)}")]
    reader.fieldnames = header
    rows: list[StockRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str, str], int] = {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(RowError(line, "more fields than the header has"))
                continue
            values = {k: (v or "").strip() for k, v in raw.items()}
            sku, loc, batch = values["sku"], values["location"], values.get("batch", "")
            problem = _row_problem(values)
            if problem:
                errors.append(RowError(line, problem))
                continue
            key = (sku, loc, batch)
            if key in seen:
                errors.append(RowError(line, f"duplicate of row {seen[key]} ({sku} at {loc})"))
                continue
            seen[key] = line
            expiry = date.fromisoformat(values["expiry"]) if values.get("expiry") else None
            rows.append(StockRow(line, sku, loc, batch, int(values["quantity"]), expiry))
    except csv.Error as error:
        errors.append(RowError(reader.line_num, f"malformed CSV: {error}"))
    if not rows and not errors:
        errors.append(RowError(1, "no rows"))
    return rows, errors


def _row_problem(values: dict[str, str]) -> str | None:
    if not values["sku"] or len(values["sku"]) > 50:
        return "sku must be 1..50 characters"
    if not values["location"]:
        return "location is empty"
    if len(values.get("batch", "")) > 100:
        return "batch is longer than 100 characters"
    try:
        qty = int(values["quantity"])
    except ValueError:
        return f"quantity {values['quantity']!r} is not an integer"
    if qty < 0:
        return "quantity must not be negative"
    if values.get("expiry"):
        try:
            date.fromisoformat(values["expiry"])
        except ValueError:
            return f"expiry {values['expiry']!r} is not a date (YYYY-MM-DD)"
    return None


def import_stock(
    session: Session,
    text: str,
    *,
    actor: str,
    source: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate every row, then set the levels in the caller's transaction."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    rows, errors = parse_stock_csv(text)
    if errors:
        raise ImportRejected(errors)
    reference = f"import-{digest[:16]}"
    if repo.movements_of_request(session, reference, f"import:{digest}:"):
        return ImportResult(len(rows), 0, digest, True)

    locations = repo.locations_by_code(session, {r.location for r in rows})
    repo.ensure_products(session, {r.sku for r in rows})
    products = repo.products_by_sku(session, {r.sku for r in rows})
    for r in rows:
        tracking = products[r.sku].tracking
        if r.location not in locations:
            errors.append(RowError(r.line, f"unknown location {r.location!r}"))
        elif tracking != "none" and not r.batch:
            errors.append(RowError(r.line, f"{r.sku} is {tracking}-tracked: batch is required"))
        elif tracking == "none" and r.batch:
            errors.append(RowError(r.line, f"{r.sku} is not batch-tracked: leave batch empty"))
        elif tracking == "serial" and r.quantity > 1:
            errors.append(RowError(r.line, f"serial {r.batch} can't be on hand more than once"))
    errors += _serial_clashes(session, rows, products)
    if errors:
        raise ImportRejected(sorted(errors, key=lambda e: e.line))

    now = utcnow()
    batch_rows = [
        {"sku": r.sku, "code": r.batch, "expiry": r.expiry, "received_at": now}
        for r in rows
        if r.batch
    ]
    for start in range(0, len(batch_rows), _CHUNK):
        repo.upsert_batches(session, batch_rows[start : start + _CHUNK])
    written = 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        book = repo.on_hand_of(session, [(r.sku, r.location, r.batch) for r in chunk])
        movements = [
            NewMovement(
                key=f"import:{digest}:{r.line}",
                sku=r.sku,
                quantity=r.quantity - book.get((r.sku, r.location, r.batch), 0),
                type=IMPORT,
                location=r.location,
                actor=actor,
                batch=r.batch,
                reference=reference,
                reason=f"stock import from {source}: set to {r.quantity}",
                request_sha256=digest,
            )
            for r in chunk
            if r.quantity != book.get((r.sku, r.location, r.batch), 0)
        ]
        written += len(post_movements(session, movements).rows)
        if progress:
            progress(len(chunk))
    return ImportResult(len(rows), written, digest, False)


def _serial_clashes(
    session: Session, rows: Sequence[StockRow], products: dict[str, Any]
) -> list[RowError]:
    """A serial set on hand at one location must not be on hand anywhere else."""
    errors = []
    by_sku: dict[str, list[StockRow]] = {}
    for r in rows:
        if products[r.sku].tracking == "serial" and r.batch:
            by_sku.setdefault(r.sku, []).append(r)
    for sku, serial_rows in by_sku.items():
        places = repo.places_for(session, [sku]).get(sku, [])
        in_file: dict[str, int] = {}
        for r in serial_rows:
            in_file[r.batch] = in_file.get(r.batch, 0) + r.quantity
        for r in serial_rows:
            elsewhere = sum(
                p.available for p in places if p.batch == r.batch and p.location != r.location
            )
            listed_elsewhere = any(
                o.batch == r.batch and o.location != r.location for o in serial_rows
            )
            if r.quantity and (in_file[r.batch] > 1 or (elsewhere > 0 and not listed_elsewhere)):
                errors.append(RowError(r.line, f"serial {r.batch} of {sku} would be on hand twice"))
    return errors


def _cell(value: Any) -> str:
    """RFC 4180 via csv; text that a spreadsheet would run as a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return str(value)


def _rows_to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(v) for v in row])
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_stock(session: Session) -> Iterator[str]:
    """Non-zero balances, streamed; the file imports back to the same levels."""
    rows = (
        (
            r.sku,
            r.location,
            r.batch,
            r.expiry.isoformat() if r.expiry else "",
            r.on_hand,
            r.allocated,
            r.on_hand - r.allocated,
        )
        for r in repo.stream_stock(session)
    )
    header = ("sku", "location", "batch", "expiry", "quantity", "allocated", "available")
    return _rows_to_csv(header, rows)


def export_ledger(session: Session) -> Iterator[str]:
    rows = (
        (
            m.id,
            isoformat(m.created_at),
            m.sku,
            m.location,
            m.batch,
            m.quantity,
            m.type,
            m.reference,
            m.reason,
            m.account_id,
            m.order_id,
            m.event_id,
            m.actor,
        )
        for m in repo.stream_movements(session)
    )
    return _rows_to_csv(LEDGER_COLUMNS, rows)
