"""Stock CSV import/export and ledger CSV export.

Import sets the on-hand level of each (sku, location, batch) row: the ledger gets one
`import` movement for counted − book per row that differs. The file is read as people
write CSV: headers in any order and case, with aliases (`SKU,Location,Qty`), `,` or `;`,
a BOM tolerated. Every row is checked before anything is written and every error of
every row is reported at once (unknown locations included, with how to create them); one
bad row rejects the file. Rows are then written in short transactions of CHUNK rows, so
other writers (webhooks) never wait long. Movement keys carry the file's digest and row:
the same file imported again is a no-op, and an import cut short (a killed process) is
completed by importing the file again.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.columns import column_length
from app.db import Database
from app.inputrules import INT32, text_problem
from app.ledger import repository as repo
from app.ledger.domain import IMPORT, NewMovement
from app.ledger.models import Batch, Location, Product
from app.ledger.service import post_movements
from app.timeutil import isoformat, utcnow

REQUIRED = ("sku", "location", "quantity")
OPTIONAL = ("batch", "expiry")
IGNORED = ("allocated", "available")  # written by `stock export`, read back as nothing
ALIASES = {
    "sku": ("sku", "product", "product_code", "item", "item_code", "article", "code"),
    "location": ("location", "loc", "bin", "location_code", "place", "warehouse_location"),
    "quantity": ("quantity", "qty", "on_hand", "onhand", "count", "counted", "stock", "level"),
    "batch": ("batch", "lot", "batch_code", "lot_number", "serial", "serial_number"),
    "expiry": ("expiry", "expires", "expiry_date", "expiration", "best_before", "use_by"),
    "allocated": ("allocated",),
    "available": ("available",),
}
_COLUMN_OF = {alias: column for column, names in ALIASES.items() for alias in names}
LOCATION_HINT = (
    "create missing locations first: `stockmirror locations add CODE` or "
    'POST /api/locations {"code": ..., "kind": "bulk"}'
)
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
CHUNK = 1000  # rows per write transaction (and per IN list: far below any parameter limit)
SQLITE_GAP = 0.1  # seconds between two write transactions of an import on SQLite
LONGEST = {
    "sku": column_length(Product.sku),
    "location": column_length(Location.code),
    "batch": column_length(Batch.code),
}


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
    def __init__(self, errors: Sequence[RowError], hint: str | None = None) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing was imported")
        self.errors = list(errors)
        self.hint = hint


@dataclass(frozen=True)
class ImportResult:
    rows: int
    movements: int
    digest: str
    already_imported: bool


def column_for(header: str) -> str | None:
    """The column a header cell names (case, spaces and dashes do not matter)."""
    key = "_".join(header.strip().lower().replace("-", " ").split())
    return _COLUMN_OF.get(key)


def _dialect(text: str) -> str:
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def parse_stock_csv(text: str) -> tuple[list[StockRow], list[RowError]]:
    """Syntax and per-row checks (no database); every error of every row."""
    text = text.removeprefix("\ufeff")
    try:
        return _parse(text)
    except csv.Error as error:
        return [], [RowError(1, f"malformed CSV: {str(error)[:200]}")]


def _header(reader: Any) -> tuple[list[str | None], list[RowError]]:
    cells = next(reader, None) or []
    columns = [column_for(c) for c in cells]
    errors = []
    unknown = [c[:50] for c, col in zip(cells, columns, strict=True) if col is None]
    if unknown:
        errors.append(RowError(1, f"unknown column(s) {', '.join(unknown)}"))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        errors.append(RowError(1, f"header lacks column(s) {', '.join(missing)}"))
    twice = sorted({c for c in columns if c is not None and columns.count(c) > 1})
    if twice:
        errors.append(RowError(1, f"column(s) given twice: {', '.join(twice)}"))
    return columns, errors


def _parse(text: str) -> tuple[list[StockRow], list[RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(text))
    columns, errors = _header(reader)
    if errors:
        return [], errors
    rows: list[StockRow] = []
    seen: dict[tuple[str, str, str], int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines (a trailing one is common)
            if len(cells) > len(columns):
                errors.append(RowError(line, "more fields than the header has"))
                continue
            values = {col: c.strip() for col, c in zip(columns, cells, strict=False) if col}
            problems = row_problems(values)
            key = (values.get("sku", ""), values.get("location", ""), values.get("batch", ""))
            if key in seen:
                problems.append(f"duplicate of row {seen[key]} ({key[0]} at {key[1]})")
            errors.extend(RowError(line, p) for p in problems)
            if problems:
                continue
            seen[key] = line
            expiry = date.fromisoformat(values["expiry"]) if values.get("expiry") else None
            rows.append(StockRow(line, *key[:2], key[2], int(values["quantity"]), expiry))
    except csv.Error as error:
        errors.append(RowError(reader.line_num, f"malformed CSV: {str(error)[:200]}"))
    if not rows and not errors:
        errors.append(RowError(1, "no rows"))
    return rows, errors


def row_problems(values: dict[str, str]) -> list[str]:
    """Every problem of one row's cells (CONTRACT §2 input rules and the columns)."""
    problems = []
    for name, value in values.items():
        problem = text_problem(value)
        if problem:
            problems.append(f"{name} {problem}")
    for name, longest in LONGEST.items():
        if len(values.get(name, "")) > longest:
            problems.append(f"{name} is longer than {longest} characters")
    for name in ("sku", "location"):
        if not values.get(name):
            problems.append(f"{name} is empty")
    raw = values.get("quantity", "")
    try:
        qty = int(raw)
    except ValueError:
        problems.append(f"quantity {raw[:30]!r} is not an integer")
    else:
        if qty < 0:
            problems.append("quantity must not be negative")
        elif qty > INT32[1]:
            problems.append(f"quantity must be at most {INT32[1]}")
    if values.get("expiry"):
        try:
            date.fromisoformat(values["expiry"])
        except ValueError:
            problems.append(f"expiry {values['expiry'][:30]!r} is not a date (YYYY-MM-DD)")
    return problems


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_stock(
    db: Database,
    text: str,
    *,
    actor: str,
    source: str = "csv",
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Check every row (reads only), then set the levels, CHUNK rows per transaction."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    rows, errors = parse_stock_csv(text)
    with db.read() as session:
        checked = _check_against_stock(session, rows)
    errors += checked
    if errors:
        unknown = any(e.message.startswith("unknown location") for e in errors)
        ranked = sorted(errors, key=lambda e: e.line)
        raise ImportRejected(ranked, LOCATION_HINT if unknown else None)
    written = previous = 0
    for n, chunk in enumerate(_chunks(rows)):
        if n and db.dialect == "sqlite":
            # SQLite has one writer; a waiting one polls (every 100 ms at worst), so leave
            # a gap between chunks that a webhook waiting for the lock is sure to see.
            time.sleep(SQLITE_GAP)
        write = functools.partial(
            _write_chunk, rows=chunk, digest=digest, actor=actor, source=source
        )
        moved, had = db.run(write)
        written, previous = written + moved, previous + had
        if progress:
            progress(len(chunk))
    return ImportResult(len(rows), written, digest, written == 0 and previous > 0)


def _check_against_stock(session: Session, rows: Sequence[StockRow]) -> list[RowError]:
    """Unknown locations, batch rules of tracked products, serials on hand twice."""
    locations: set[str] = set()
    for part in _chunks(sorted({r.location for r in rows})):
        locations |= set(repo.locations_by_code(session, part))
    tracking: dict[str, str] = {}
    for part in _chunks(sorted({r.sku for r in rows})):
        tracking |= {sku: p.tracking for sku, p in repo.products_by_sku(session, part).items()}
    errors = []
    for r in rows:
        mode = tracking.get(r.sku, "none")
        if r.location not in locations:
            errors.append(RowError(r.line, f"unknown location {r.location!r}"))
        if mode != "none" and not r.batch:
            errors.append(RowError(r.line, f"{r.sku} is {mode}-tracked: batch is required"))
        elif mode == "none" and r.batch:
            errors.append(RowError(r.line, f"{r.sku} is not batch-tracked: leave batch empty"))
        elif mode == "serial" and r.quantity > 1:
            errors.append(RowError(r.line, f"serial {r.batch} can't be on hand more than once"))
    serial_rows = [r for r in rows if tracking.get(r.sku) == "serial" and r.batch]
    return errors + _serial_clashes(session, serial_rows)


def _serial_clashes(session: Session, rows: Sequence[StockRow]) -> list[RowError]:
    """A serial set on hand at one location must not be on hand anywhere else."""
    in_file: dict[tuple[str, str], int] = {}
    listed: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        key = (r.sku, r.batch)
        in_file[key] = in_file.get(key, 0) + r.quantity
        listed.setdefault(key, set()).add(r.location)
    on_hand_at: dict[tuple[str, str], dict[str, int]] = {}
    for part in _chunks(sorted({r.sku for r in rows})):
        for sku, places in repo.places_for(session, part).items():
            for p in places:
                if p.batch and p.available > 0:
                    on_hand_at.setdefault((sku, p.batch), {})[p.location] = p.available
    errors = []
    for r in rows:
        key = (r.sku, r.batch)
        elsewhere = sum(q for loc, q in on_hand_at.get(key, {}).items() if loc != r.location)
        listed_elsewhere = len(listed[key] - {r.location}) > 0
        if r.quantity and (in_file[key] > 1 or (elsewhere > 0 and not listed_elsewhere)):
            errors.append(RowError(r.line, f"serial {r.batch} of {r.sku} would be on hand twice"))
    return errors


def _write_chunk(
    session: Session, *, rows: Sequence[StockRow], digest: str, actor: str, source: str
) -> tuple[int, int]:
    """Set the levels of these rows; (movements written, rows written by an earlier run)."""
    keys = {r.line: f"import:{digest}:{r.line}" for r in rows}
    done = repo.existing_movement_keys(session, list(keys.values()))
    repo.ensure_products(session, {r.sku for r in rows})
    todo = [r for r in rows if keys[r.line] not in done]
    now = utcnow()
    batches = [
        {"sku": r.sku, "code": r.batch, "expiry": r.expiry, "received_at": now}
        for r in todo
        if r.batch
    ]
    if batches:
        repo.upsert_batches(session, batches)
    book = repo.on_hand_of_skus(session, [r.sku for r in todo])
    movements = [
        NewMovement(
            key=keys[r.line],
            sku=r.sku,
            quantity=r.quantity - book.get((r.sku, r.location, r.batch), 0),
            type=IMPORT,
            location=r.location,
            actor=actor,
            batch=r.batch,
            reference=f"import-{digest[:16]}",
            reason=f"stock import from {source}: set to {r.quantity}",
            request_sha256=digest,
        )
        for r in todo
        if r.quantity != book.get((r.sku, r.location, r.batch), 0)
    ]
    return len(post_movements(session, movements).rows), len(done)


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
