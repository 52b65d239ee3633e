"""Reconciliation runs (start, resume, execute: see app.reconcile.passes) and repair.

A run compares Starshipit with the mirror and the ledger over a window. It holds a lease
that its process renews with every page; a run whose lease ran out is `interrupted`, and a
`failed` or `interrupted` run resumes from its first unfinished page (CONTRACT §4). At
most one run per account is `running` (a partial unique index). Repair applies a report's
repairable rows through apply_order_event.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import exc
from sqlalchemy.orm import Session

from app.db import Database
from app.failures import short_reason
from app.orders.domain import OrderEvent, ParkEvent
from app.orders.service import apply_order_event
from app.reconcile import repository as repo
from app.reconcile.client import StarshipitClient, StarshipitError
from app.reconcile.domain import (
    CATEGORIES,
    REPAIRABLE,
    counts_as_fully_shipped,
    negative_stock_drift,
)
from app.reconcile.passes import (
    FINAL,
    LEDGER,
    SHIPPED,
    UNSHIPPED,
    Lease,
    LeaseLost,
    Pass,
    Progress,
    RunState,
    ledger_pass,
    shipped_pass,
    unshipped_pass,
)
from app.timeutil import as_utc, isoformat, utcnow
from app.webhooks.schemas import load_order_event

log = logging.getLogger(__name__)

DEFAULT_FIRST_WINDOW = timedelta(hours=24)
DEFAULT_LEASE = timedelta(minutes=5)
RESUMABLE = ("failed", "interrupted")


class WindowError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class RunConflict(Exception):
    """The account already has a reconciliation running (CONTRACT §4: 409 with its id)."""

    def __init__(self, account_id: str, running_id: int | None) -> None:
        super().__init__(f"reconciliation {running_id} of account {account_id!r} is still running")
        self.running_id = running_id


class ResumeRefused(Exception):
    pass


@dataclass(frozen=True)
class Claim:
    """A run this process may execute: the lease owner token names the process."""

    run_id: int
    owner: str


FULLY_SHIPPED_NOTE = (
    "Starshipit reports the order shipped without shipped quantities on its lines: "
    "counted as shipped in full"
)


def order_event_from_starshipit(
    order: Mapping[str, Any],
    *,
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    account_id: str,
    listed_as_shipped: bool = False,
) -> OrderEvent:
    """The one converter from Starshipit's REST order to an order event (validated by the
    same schema as webhooks). An order_shipped event of an order the REST API reports as
    shipped with no positive quantity_shipped ships every line (CONTRACT §3) and says so
    on the timeline. Raises marshmallow.ValidationError."""
    body = dict(order)
    notes: tuple[str, ...] = ()
    if event_type == "order_shipped" and counts_as_fully_shipped(
        order, listed_as_shipped=listed_as_shipped
    ):
        body["items"] = [_without_shipped(item) for item in order.get("items") or []]
        notes = (FULLY_SHIPPED_NOTE,)
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": isoformat(occurred_at),
        "account_id": account_id,
        "order": body,
    }
    return replace(load_order_event(envelope), notes=notes)


def _without_shipped(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {k: v for k, v in item.items() if k != "quantity_shipped"}


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
    db: Database,
    *,
    account_id: str,
    since: datetime,
    until: datetime,
    trigger: str,
    lease: timedelta = DEFAULT_LEASE,
) -> Claim:
    """A new running run; RunConflict when the account has one running (a run whose
    process stopped renewing its lease is marked interrupted first)."""
    owner = uuid.uuid4().hex

    def create(session: Session) -> int:
        repo.expire_leases(session, account_id, utcnow())
        return repo.create_run(
            session,
            account_id=account_id,
            since=since,
            until=until,
            trigger=trigger,
            owner=owner,
            lease_until=utcnow() + lease,
            progress=RunState().progress(),
        )

    try:
        return Claim(db.run(create), owner)
    except exc.IntegrityError:
        with db.read() as session:
            raise RunConflict(account_id, repo.running_run_id(session, account_id)) from None


def resume_run(db: Database, run_id: int, *, lease: timedelta = DEFAULT_LEASE) -> Claim:
    """Take a failed or interrupted run back (CONTRACT §4); it continues from its first
    unfinished page with what it found. LookupError, ResumeRefused or RunConflict."""
    owner = uuid.uuid4().hex

    def claim(session: Session) -> None:
        run = repo.get_run(session, run_id)
        if run is None:
            raise LookupError(f"no reconciliation {run_id}")
        repo.expire_leases(session, run.account_id, utcnow())
        session.refresh(run)
        if run.status not in RESUMABLE:
            raise ResumeRefused(
                f"reconciliation {run_id} is {run.status}; only failed or interrupted runs resume"
            )
        state = RunState.of(run, 0)
        state.resumes += 1
        repo.claim_for_resume(session, run_id, owner, utcnow() + lease, RESUMABLE)
        repo.update_owned_run(session, run_id, owner, progress=state.progress())

    try:
        db.run(claim)
    except exc.IntegrityError:
        with db.read() as session:
            run = repo.get_run(session, run_id)
            account_id = run.account_id if run else "?"
            raise RunConflict(account_id, repo.running_run_id(session, account_id)) from None
    return Claim(run_id, owner)


def execute_run(
    db: Database,
    client: StarshipitClient,
    claim: Claim,
    *,
    lease: timedelta = DEFAULT_LEASE,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Run a claimed reconciliation from where it got to; it ends `done`, or `failed`
    with a short reason and its finished pages kept (resumable)."""
    with db.read() as session:
        run = repo.get_run(session, claim.run_id)
        if run is None:
            raise LookupError(f"no reconciliation {claim.run_id}")
        work = Pass(
            db,
            client,
            claim.run_id,
            run.account_id,
            run.since,
            run.until,
            Lease(db, claim.run_id, claim.owner, lease),
            RunState.of(run, client.calls),
            progress,
        )
    try:
        return _run_passes(work)
    except LeaseLost:
        raise
    except Exception as error:
        _fail(work, error)
        raise


def _run_passes(work: Pass) -> dict[str, int]:
    steps = ((SHIPPED, shipped_pass, UNSHIPPED), (UNSHIPPED, unshipped_pass, LEDGER))
    for phase, step, following in steps:
        if work.state.phase == phase:
            step(work)
            work.save([], [], phase=following, page=1)
    if work.state.phase == LEDGER:
        ledger_pass(work)
        work.save([], [], phase=FINAL)
    return _finish(work)


def _summary(counts: Mapping[str, int], state: RunState) -> dict[str, int]:
    body = {c: counts.get(c, 0) for c in CATEGORIES}
    body["matched"] = state.matched
    body["checked"] = state.checked
    body["unshipped_checked"] = state.unshipped_checked
    body["details_fetched"] = state.details_fetched
    return body


def _finish(work: Pass) -> dict[str, int]:
    with work.db.write() as session:
        repo.add_drift(session, work.run_id, negative_stock_drift(repo.negative_skus(session)))
        summary = _summary(repo.drift_counts(session, work.run_id), work.state)
        repo.clear_seen(session, work.run_id)
        values = work.state.columns(work.client) | {
            "status": "done",
            "finished_at": utcnow(),
            "summary": summary,
            "lease_owner": None,
        }
        if not repo.update_owned_run(session, work.run_id, work.lease.owner, **values):
            raise LeaseLost(f"reconciliation {work.run_id} was taken over")
    return summary


def failure_reason(error: BaseException, doing: str) -> str:
    """A run's or job's stored reason: Starshipit's own short message, or a short reason
    with an error id (details in the server log)."""
    if isinstance(error, StarshipitError):
        reason = f"Starshipit: {error}"[:500]
        log.warning("%s failed: %s", doing, reason)
        return reason
    return short_reason(error, log, doing)


def _fail(work: Pass, error: Exception) -> None:
    """Record the failure (a short reason) and keep the finished pages for a resume."""
    reason = failure_reason(error, f"reconciliation {work.run_id}")
    try:
        with work.db.write() as session:
            summary = _summary(repo.drift_counts(session, work.run_id), work.state)
            values = work.state.columns(work.client) | {
                "status": "failed",
                "finished_at": utcnow(),
                "summary": summary,
                "error": reason,
                "lease_owner": None,
            }
            repo.update_owned_run(session, work.run_id, work.lease.owner, **values)
    except Exception:  # noqa: BLE001 - storage down: the lease runs out (interrupted)
        log.warning("reconciliation %s: could not record the failure", work.run_id)


def run_reconciliation(
    db: Database,
    client: StarshipitClient,
    *,
    account_id: str = "default",
    since: datetime | None = None,
    until: datetime | None = None,
    overlap: timedelta = timedelta(hours=1),
    trigger: str = "cli",
    lease: timedelta = DEFAULT_LEASE,
    progress: Progress | None = None,
) -> int:
    """Start and run a reconciliation; returns its id (the run row tells the outcome)."""
    since, until = resolve_window(db, account_id, since, until, overlap)
    claim = start_run(
        db, account_id=account_id, since=since, until=until, trigger=trigger, lease=lease
    )
    execute_run(db, client, claim, lease=lease, progress=progress)
    return claim.run_id


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
            listed_as_shipped=True,  # every repairable row's order left Starshipit
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
