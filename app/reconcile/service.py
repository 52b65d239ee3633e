"""run_reconciliation / repair_run: compare Starshipit with the mirror and the ledger.

Memory stays bounded whatever the window: one page of Starshipit rows at a time, compared
with two IN-list queries; drift rows and the ids seen are written per page; the ledger side
("shipped here, not listed there") is one anti-join against the ids seen, keyset-paginated.
Order detail is fetched only for orders the mirror lacks or disagrees on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from app.db import Database
from app.orders.domain import OrderEvent, ParkEvent
from app.orders.service import apply_order_event
from app.reconcile import repository as repo
from app.reconcile.client import StarshipitClient, StarshipitError, StarshipitUnavailable
from app.reconcile.domain import (
    CATEGORIES,
    REPAIRABLE,
    STATUS_MISMATCH,
    UNKNOWN_ORDER,
    Drift,
    MirrorOrder,
    classify_shipped,
    classify_unlisted,
    classify_unshipped,
    negative_stock_drift,
)
from app.timeutil import as_utc, isoformat, parse_time, utcnow
from app.webhooks.schemas import load_order_event

log = logging.getLogger(__name__)

DEFAULT_FIRST_WINDOW = timedelta(hours=24)
LEDGER_CHUNK = 250

Progress = Callable[[str, int, int], None]  # (phase, page, total_pages)


class WindowError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def order_event_from_starshipit(
    order: Mapping[str, Any],
    *,
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    account_id: str,
) -> OrderEvent:
    """The one converter from Starshipit's REST order to an order event (validated by the
    same schema as webhooks). Raises marshmallow.ValidationError."""
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": isoformat(occurred_at),
        "account_id": account_id,
        "order": dict(order),
    }
    return load_order_event(envelope)


def resolve_window(
    db: Database,
    account_id: str,
    since: datetime | None,
    until: datetime | None,
    overlap: timedelta,
) -> tuple[datetime, datetime]:
    """Default: since the last successful run's end minus the overlap, until now."""
    until = as_utc(until) if until else utcnow()
    if since is None:
        with db.read() as session:
            last = repo.last_done_until(session, account_id)
        since = (last - overlap) if last else until - DEFAULT_FIRST_WINDOW
    since = as_utc(since)
    if since >= until:
        raise WindowError("since must be before until", "since")
    return since, until


def start_run(
    db: Database, *, account_id: str, since: datetime, until: datetime, trigger: str
) -> int:
    with db.write() as session:
        return repo.create_run(
            session, account_id=account_id, since=since, until=until, trigger=trigger
        )


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    pages: int = 0
    checked: int = 0
    matched: int = 0
    unshipped_checked: int = 0
    details_fetched: int = 0

    def summary(self) -> dict[str, int]:
        body = {c: self.counts.get(c, 0) for c in CATEGORIES}
        body["matched"] = self.matched
        body["checked"] = self.checked
        body["unshipped_checked"] = self.unshipped_checked
        body["details_fetched"] = self.details_fetched
        return body


def execute_run(
    db: Database,
    client: StarshipitClient,
    run_id: int,
    *,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Run a started reconciliation to the end; the run row ends `done` or `failed`."""
    with db.read() as session:
        run = repo.get_run(session, run_id)
        if run is None:
            raise LookupError(f"no reconciliation {run_id}")
        account_id, since, until = run.account_id, run.since, run.until
    calls_before = client.calls
    tally = _Tally()
    try:
        _shipped_pass(db, client, run_id, account_id, since, until, tally, progress)
        _unshipped_pass(db, client, run_id, account_id, since, tally, progress)
        _ledger_pass(db, client, run_id, account_id, since, until, tally)
        with db.write() as session:
            negative = negative_stock_drift(repo.negative_skus(session))
            tally.counts.update(d.category for d in negative)
            repo.add_drift(session, run_id, negative)
            repo.clear_seen(session, run_id)
            repo.update_run(
                session,
                run_id,
                status="done",
                finished_at=utcnow(),
                api_calls=client.calls - calls_before,
                pages=tally.pages,
                checked=tally.checked,
                matched=tally.matched,
                summary=tally.summary(),
            )
    except Exception as error:
        log.exception("reconciliation %s failed", run_id)
        with db.write() as session:
            repo.clear_seen(session, run_id)
            repo.update_run(
                session,
                run_id,
                status="failed",
                finished_at=utcnow(),
                api_calls=client.calls - calls_before,
                pages=tally.pages,
                checked=tally.checked,
                matched=tally.matched,
                summary=tally.summary(),
                error=f"{type(error).__name__}: {error}"[:2000],
            )
        raise
    return tally.summary()


def run_reconciliation(
    db: Database,
    client: StarshipitClient,
    *,
    account_id: str = "default",
    since: datetime | None = None,
    until: datetime | None = None,
    overlap: timedelta = timedelta(hours=1),
    trigger: str = "cli",
    progress: Progress | None = None,
) -> int:
    """Start and run a reconciliation; returns its id (the run row tells the outcome)."""
    since, until = resolve_window(db, account_id, since, until, overlap)
    run_id = start_run(db, account_id=account_id, since=since, until=until, trigger=trigger)
    execute_run(db, client, run_id, progress=progress)
    return run_id


def _order_id(row: Mapping[str, Any]) -> int | None:
    value = row.get("order_id")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _shipped_date(row: Mapping[str, Any]) -> datetime | None:
    value = row.get("shipped_date")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _shipped_pass(
    db: Database,
    client: StarshipitClient,
    run_id: int,
    account_id: str,
    since: datetime,
    until: datetime,
    tally: _Tally,
    progress: Progress | None,
) -> None:
    for page, total, rows in client.shipped_pages(since):
        tally.pages += 1
        ids = [oid for oid in (_order_id(r) for r in rows) if oid is not None]
        with db.read() as session:
            mirror = repo.mirror_orders(session, account_id, ids)
        drift: list[Drift] = []
        for row in rows:
            oid = _order_id(row)
            if oid is None:
                continue
            shipped_at = _shipped_date(row)
            if shipped_at is not None and shipped_at > until:
                continue  # shipped after the window: the next run looks at it
            tally.checked += 1
            known = mirror.get(oid)
            if known is not None and known.consistently_shipped:
                tally.matched += 1
                continue
            found = _detail_drift(client, known, oid, row, tally)
            if not found:
                tally.matched += 1
            drift.extend(found)
        _store_page(db, run_id, drift, ids, tally, checked=tally.checked)
        if progress:
            progress("shipped", page, total)


def _detail_drift(
    client: StarshipitClient,
    known: MirrorOrder | None,
    order_id: int,
    row: Mapping[str, Any],
    tally: _Tally,
) -> list[Drift]:
    fetched_at = utcnow()
    try:
        order = client.get_order(order_id=order_id)
    except StarshipitUnavailable:
        raise
    except StarshipitError as error:
        return [
            Drift(
                UNKNOWN_ORDER if known is None else STATUS_MISMATCH,
                order_id,
                row.get("order_number"),
                detail=f"listed as shipped but its detail could not be read: {error}",
            )
        ]
    tally.details_fetched += 1
    return classify_shipped(known, order, fetched_at=fetched_at)


def _unshipped_pass(
    db: Database,
    client: StarshipitClient,
    run_id: int,
    account_id: str,
    since: datetime,
    tally: _Tally,
    progress: Progress | None,
) -> None:
    for page, total, rows in client.unshipped_pages(since):
        tally.pages += 1
        ids = [oid for oid in (_order_id(r) for r in rows) if oid is not None]
        with db.read() as session:
            mirror = repo.mirror_orders(session, account_id, ids)
        drift: list[Drift] = []
        for row in rows:
            oid = _order_id(row)
            if oid is None:
                continue
            tally.unshipped_checked += 1
            drift.extend(classify_unshipped(mirror.get(oid), row))
        # Orders reported here are not reported again by the ledger pass.
        _store_page(db, run_id, drift, [d.order_id for d in drift if d.order_id], tally)
        if progress:
            progress("unshipped", page, total)


def _store_page(
    db: Database,
    run_id: int,
    drift: list[Drift],
    seen: list[int],
    tally: _Tally,
    **run_fields: Any,
) -> None:
    """One page's drift rows and seen ids, with the run's progress, in one transaction."""
    with db.write() as session:
        repo.add_drift(session, run_id, drift)
        repo.mark_seen(session, run_id, seen)
        repo.update_run(session, run_id, pages=tally.pages, **run_fields)
    tally.counts.update(d.category for d in drift)


def _ledger_pass(
    db: Database,
    client: StarshipitClient,
    run_id: int,
    account_id: str,
    since: datetime,
    until: datetime,
    tally: _Tally,
) -> None:
    """Orders the ledger shipped in the window that Starshipit did not list as shipped."""
    after = 0
    while True:
        with db.read() as session:
            chunk = repo.unlisted_shipped_orders(
                session,
                run_id=run_id,
                account_id=account_id,
                since=since,
                until=until,
                after_pk=after,
                limit=LEDGER_CHUNK,
            )
            if not chunk:
                return
            mirror = repo.mirror_orders(session, account_id, [oid for _, oid in chunk])
        after = chunk[-1][0]
        drift: list[Drift] = []
        for _, oid in chunk:
            known = mirror.get(oid)
            if known is None or not any(known.shipped.values()):
                continue
            tally.checked += 1
            fetched_at = utcnow()
            try:
                order = client.get_order(order_id=oid)
            except StarshipitUnavailable:
                raise
            except StarshipitError as error:
                order = {"order_id": oid, "status": f"unreadable: {error}", "items": []}
            tally.details_fetched += 1
            found = classify_unlisted(known, order, fetched_at=fetched_at)
            if not found:
                tally.matched += 1
            drift.extend(found)
        with db.write() as session:
            repo.add_drift(session, run_id, drift)
        tally.counts.update(d.category for d in drift)


# -- repair ---------------------------------------------------------------------------


@dataclass
class RepairResult:
    repaired: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    orders: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"repaired": self.repaired, "orders": self.orders, "skipped": self.skipped}


def repair_run(
    db: Database,
    run_id: int,
    *,
    actor: str | None = None,
    only: Sequence[int] | None = None,
) -> RepairResult:
    """Apply the report's repairable rows through apply_order_event (as order_shipped).

    Each order is one transaction. The synthesized event's id names the report row
    (`reconcile:<run>:<row>`), so its movements cite the report; rows are marked repaired
    in the same transaction, so a second repair changes nothing. `only` limits the repair
    to these rows (what the console previewed).
    """
    account_id = repairable_run(db, run_id)
    actor = actor or f"reconcile:{run_id}"
    result = RepairResult()
    after = 0
    while True:
        with db.read() as session:
            rows = repo.repairable_after(session, run_id, REPAIRABLE, after, 500, only=only)
        if not rows:
            return result
        after = rows[-1][0]
        for order_id, ids in group_by_order(rows).items():

            def work(session: Session, o: int | None = order_id, i: list[int] = ids) -> Repaired:
                return repair_order_rows(session, account_id, run_id, o, i, actor)

            repaired, skipped, _ = db.run(work)
            result.repaired += repaired
            result.orders += 1 if repaired else 0
            result.skipped.extend(skipped)


def repairable_run(db: Database, run_id: int) -> str:
    """The account of a run that may be repaired (LookupError, RepairRefused)."""
    with db.read() as session:
        run = repo.get_run(session, run_id)
        if run is None:
            raise LookupError(f"no reconciliation {run_id}")
        if run.status != "done":
            raise RepairRefused(f"reconciliation {run_id} is {run.status}; only done runs repair")
        return run.account_id


def group_by_order(rows: Sequence[tuple[int, int | None]]) -> dict[int | None, list[int]]:
    by_order: dict[int | None, list[int]] = {}
    for row_id, order_id in rows:
        by_order.setdefault(order_id, []).append(row_id)
    return by_order


class RepairRefused(Exception):
    pass


Repaired = tuple[int, list[dict[str, Any]], str | None]


def repair_order_rows(
    session: Session,
    account_id: str,
    run_id: int,
    order_id: int | None,
    ids: list[int],
    actor: str,
) -> Repaired:
    """Repair one order's rows in the caller's transaction: (rows repaired, rows skipped
    with the reason, the id of the event applied or None)."""
    skipped: list[dict[str, Any]] = []

    def skip(rows: list[Any], reason: str) -> None:
        for r in rows:
            skipped.append(
                {
                    "id": r.id,
                    "category": r.category,
                    "order_id": r.order_id,
                    "sku": r.sku,
                    "reason": reason,
                }
            )

    rows = repo.lock_drift_rows(session, ids)
    pending = [r for r in rows if r.repaired_at is None]
    skip([r for r in rows if r.repaired_at is not None], "already repaired")
    if not pending:
        return 0, skipped, None
    snap = next((r for r in pending if r.snapshot), None)
    if snap is None or order_id is None or snap.snapshot_at is None:
        skip(pending, "no Starshipit order detail was captured for this row")
        return 0, skipped, None
    event_id = f"reconcile:{run_id}:{pending[0].id}"
    try:
        event = order_event_from_starshipit(
            snap.snapshot or {},
            event_type="order_shipped",
            event_id=event_id,
            occurred_at=snap.snapshot_at,
            account_id=account_id,
        )
    except ValidationError as error:
        skip(pending, f"Starshipit's order does not validate: {error.messages}")
        return 0, skipped, None
    try:
        with session.begin_nested():
            applied = apply_order_event(session, event, actor=actor)
    except ParkEvent as error:
        skip(pending, str(error))
        return 0, skipped, None
    if applied.outcome != "applied":
        skip(pending, f"the mirror has newer information than this report ({applied.outcome})")
        return 0, skipped, None
    now = utcnow()
    for r in pending:
        r.repaired_at, r.repair_event_id = now, event_id
    return len(pending), skipped, event_id
