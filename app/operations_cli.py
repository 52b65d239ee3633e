"""Commands for the warehouse floor: `stockmirror orders release`, `picklist`, `locations add`."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from app.allocation.service import MAX_BATCH
from app.ledger.domain import LOCATION_KINDS

PICKLIST_COLUMNS = ("location", "sku", "batch", "serial", "quantity", "orders")


@click.group()
def orders() -> None:
    """Orders mirrored from Starshipit."""


@orders.command("release")
@click.argument("order_ids", nargs=-1, type=click.IntRange(min=1))
@click.option(
    "--allocatable",
    is_flag=True,
    help="Release every pending order that can be fully allocated now, oldest first.",
)
@click.option("--allow-partial", is_flag=True, help="Allocate what is there when stock is short.")
@click.option("--limit", type=click.IntRange(1, MAX_BATCH), default=MAX_BATCH, show_default=True)
@click.option("--account-id", default="default", show_default=True)
def orders_release(
    order_ids: Sequence[int], allocatable: bool, allow_partial: bool, limit: int, account_id: str
) -> None:
    """Allocate stock to orders (ORDER_IDS or --allocatable) and print a summary.

    Exit 1 when an order was short of stock or not found (something to act on).
    """
    from app.allocation.service import AllocationOff, ReleaseFilter, release_orders
    from app.cli import CliError, app_context

    if bool(order_ids) == allocatable:
        raise click.UsageError("give ORDER_IDS or --allocatable (one of the two)")
    ctx = app_context()
    try:
        result = release_orders(
            ctx.db,
            ctx.allocation,
            account_id=account_id,
            order_ids=list(order_ids) if order_ids else None,
            filter_=ReleaseFilter(allocatable=True, limit=limit) if allocatable else None,
            allow_partial=allow_partial,
            actor="cli",
        )
    except AllocationOff as error:
        raise CliError(str(error)) from None
    finally:
        ctx.db.dispose()
    attention = _print_release(result.release_id, [r.to_dict() for r in result.results])
    if attention:
        sys.exit(1)


def _print_release(release_id: int, results: list[dict[str, Any]]) -> bool:
    """The summary line, one line per order that needs a look; True if any does."""
    counts = {k: sum(1 for r in results if r["outcome"] == k) for k in ("released", "short")}
    skipped = len(results) - counts["released"] - counts["short"]
    click.echo(
        f"release {release_id}: {counts['released']} released, {counts['short']} short, "
        f"{skipped} skipped"
    )
    attention = False
    for r in results:
        if r["outcome"] == "short":
            attention = True
            need = ", ".join(
                f"{s['sku']} needs {s['needed']}, {s['available']} available"
                for s in r.get("shortages", [])
            )
            click.echo(f"  short    order {r['order_id']}: {need}")
        elif r["outcome"] == "skipped":
            reason = r.get("reason") or "skipped"
            attention |= reason != "already allocated"
            click.echo(f"  skipped  order {r['order_id']}: {reason}")
    if counts["released"]:
        click.echo(f"pick list: stockmirror picklist {release_id}")
    return attention


@click.command("picklist")
@click.argument("release_id", type=click.IntRange(min=1))
@click.option("--csv", "as_csv", is_flag=True, help="CSV (RFC 4180) instead of a table.")
@click.option("--account-id", default="default", show_default=True)
def picklist(release_id: int, as_csv: bool, account_id: str) -> None:
    """Print a release's pick list, in walking order (location, SKU, batch)."""
    from app.allocation.queries import release_picklist
    from app.cli import CliError, app_context

    ctx = app_context()
    try:
        with ctx.db.read() as session:
            body = release_picklist(session, account_id, release_id)
    finally:
        ctx.db.dispose()
    if body is None:
        raise CliError(f"release {release_id} not found in account {account_id!r}")
    rows = [_row(line) for line in body["lines"]]
    if as_csv:
        click.echo(picklist_csv(rows), nl=False)
        return
    released = body["orders_released"]
    click.echo(
        f"pick list of release {release_id} ({_count(released, 'order')} released "
        f"{body['created_at']}): {_count(len(rows), 'line')}"
    )
    click.echo(_table(rows))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _row(line: dict[str, Any]) -> tuple[Any, ...]:
    orders = ", ".join(
        f"{o['order_number'] or o['order_id']} ({o['quantity']})" for o in line["orders"]
    )
    return (line["location"], line["sku"], line["batch"], line["serial"], line["quantity"], orders)


def picklist_csv(rows: Iterable[tuple[Any, ...]]) -> str:
    """Numbers stay numbers; text a spreadsheet would run as a formula gets a quote."""
    from app.reconcile.report import escape_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PICKLIST_COLUMNS)
    for row in rows:
        writer.writerow([v if isinstance(v, int) else escape_cell(v) for v in row])
    return buffer.getvalue()


def _table(rows: list[tuple[Any, ...]]) -> str:
    cells = [PICKLIST_COLUMNS] + [tuple("" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(PICKLIST_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


@click.group()
def locations() -> None:
    """Warehouse locations (pick faces, bulk, non-sellable)."""


@locations.command("add")
@click.argument("code")
@click.option(
    "--kind",
    type=click.Choice(LOCATION_KINDS),
    default="bulk",
    show_default=True,
)
@click.option("--warehouse", default="MAIN", show_default=True)
@click.option(
    "--sequence",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Walking order on pick lists (lower first).",
)
def locations_add(code: str, kind: str, warehouse: str, sequence: int) -> None:
    """Create a location that stock can be received, counted and picked at."""
    from marshmallow import ValidationError

    from app.api.inventory import LocationSchema
    from app.cli import CliError, app_context
    from app.ledger.domain import LedgerError
    from app.ledger.locations import create_location
    from app.ledger.receiving import Conflict
    from app.webhooks.schemas import flatten_errors

    try:
        data = LocationSchema().load(
            {"code": code, "kind": kind, "warehouse": warehouse, "sequence": sequence}
        )
    except ValidationError as error:
        fields = flatten_errors(error.messages)
        raise CliError("; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())) from None
    ctx = app_context()
    try:
        with ctx.db.write() as session:
            create_location(session, **data)
    except (LedgerError, Conflict) as error:
        raise CliError(str(error)) from None
    finally:
        ctx.db.dispose()
    click.echo(
        f"location {data['code']} added: {data['kind']}, warehouse {data['warehouse']}, "
        f"sequence {data['sequence']}"
    )
