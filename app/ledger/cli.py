"""`stockmirror stock import|export` and `stockmirror ledger verify|export`."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click

from app.config import Settings
from app.db import Database


def _database() -> Database:
    from app import wiring  # the command line is where the app is put together

    return wiring.database(Settings.from_env())


@click.group()
def stock() -> None:
    """Stock levels as CSV."""


@stock.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True)
def stock_import(file: Path, actor: str) -> None:
    """Set stock levels from a CSV: columns sku, location, quantity (also Qty, Bin, Lot...),
    optional batch and expiry, in any order, separated by `,` or `;`.

    Every row is checked first and every error is listed; one bad row rejects the whole
    file (nothing applied). Importing the same file again changes nothing.
    """
    from app.ledger.csvio import ImportRejected, import_stock, parse_stock_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        click.echo(f"error: {file} is not UTF-8 text", err=True)
        sys.exit(2)
    rows, _ = parse_stock_csv(text)
    database = _database()
    try:
        with click.progressbar(length=max(len(rows), 1), label="importing", file=sys.stderr) as bar:
            result = import_stock(
                database, text, actor=actor, source=file.name, progress=bar.update
            )
    except ImportRejected as rejected:
        for error in rejected.errors:
            click.echo(f"{file.name}: {error}", err=True)
        if rejected.hint:
            click.echo(f"hint: {rejected.hint}", err=True)
        click.echo(f"error: {rejected}", err=True)
        sys.exit(1)
    finally:
        database.dispose()
    if result.already_imported:
        click.echo(f"{file.name} was already imported ({result.rows} rows); nothing changed")
    else:
        click.echo(f"imported {result.rows} rows: {result.movements} movements")


def _write(chunks: Callable[[Any], Iterator[str]], out: IO[str]) -> None:
    database = _database()
    try:
        with database.read() as session:
            for chunk in chunks(session):
                out.write(chunk)
    finally:
        database.dispose()


@stock.command("export")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def stock_export(output: IO[str]) -> None:
    """Write non-zero stock per (sku, location, batch) as CSV (re-importable)."""
    from app.ledger.csvio import export_stock

    _write(export_stock, output)


@click.group()
def ledger() -> None:
    """The stock ledger."""


@ledger.command("verify")
@click.option("--limit", default=1000, show_default=True, help="Differences to list at most.")
def ledger_verify(limit: int) -> None:
    """Rebuild every balance from the movements and report each difference."""
    from app.ledger.verify import verify_ledger

    started = time.perf_counter()
    database = _database()
    try:
        with database.read() as session:
            report = verify_ledger(session, limit=limit)
    finally:
        database.dispose()
    elapsed = time.perf_counter() - started
    for d in report.differences:
        click.echo(
            f"DIFF {d.sku} @ {d.location}"
            + (f" batch {d.batch}" if d.batch else "")
            + f": movements {d.movements}, balance {d.balance}"
        )
    for sku, code, units in report.serials_on_hand_twice:
        click.echo(f"SERIAL {sku} {code}: {units} on hand")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = (
        f"{report.balances_checked} balances checked, {len(report.differences)} differences"
        + (" (truncated)" if report.truncated else "")
        + f" in {elapsed:.2f}s, peak memory {peak_mb:.0f} MB"
    )
    click.echo(summary)
    if not report.ok:
        sys.exit(1)


@ledger.command("export")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def ledger_export(output: IO[str]) -> None:
    """Write every movement as CSV, oldest first (streamed)."""
    from app.ledger.csvio import export_ledger

    _write(export_ledger, output)
