"""The three passes of a reconciliation run, resumable page by page.

Memory stays bounded whatever the window: one page of Starshipit rows at a time, compared
with IN-list queries; each page's drift rows, the ids seen and the run's progress (the
first unfinished page, counters, a renewed lease) are written in one transaction, so a
run that fails or whose process dies keeps every finished page and resumes at the first
unfinished one. The ledger side ("shipped here, not listed there") is one anti-join
against the ids seen, keyset-paginated. Order detail is fetched only for orders the
mirror lacks or disagrees on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.db import Database
from app.reconcile import repository as repo
from app.reconcile.client import StarshipitClient, StarshipitError, StarshipitUnavailable
from app.reconcile.domain import (
    STATUS_MISMATCH,
    UNKNOWN_ORDER,
    Drift,
    MirrorOrder,
    classify_shipped,
    classify_unlisted,
    classify_unshipped,
)
from app.timeutil import parse_time, utcnow

LEDGER_CHUNK = 250
SHIPPED, UNSHIPPED, LEDGER, FINAL = "shipped", "unshipped", "ledger", "final"

Progress = Callable[[str, int, int], None]  # (phase, page, total_pages)


class LeaseLost(RuntimeError):
    """Another process took the run over (this one stopped renewing its lease in time)."""


@dataclass
class RunState:
    """Where a run got to; stored on the run row (counters in columns, the rest in
    `progress`) with every finished page."""

    phase: str = SHIPPED
    page: int = 1  # first unfinished page of the phase's listing
    after_pk: int = 0  # ledger pass: last order pk done
    resumes: int = 0
    unshipped_checked: int = 0
    details_fetched: int = 0
    pages: int = 0
    checked: int = 0
    matched: int = 0
    api_calls: int = 0
    calls_base: int = field(default=0, repr=False)  # client.calls when this process began

    @classmethod
    def of(cls, run: Any, calls_base: int) -> RunState:
        saved = dict(run.progress or {})
        known = {k: saved[k] for k in ("phase", "page", "after_pk", "resumes") if k in saved}
        counters = {k: saved[k] for k in ("unshipped_checked", "details_fetched") if k in saved}
        return cls(
            **known,
            **counters,
            pages=run.pages or 0,
            checked=run.checked or 0,
            matched=run.matched or 0,
            api_calls=run.api_calls or 0,
            calls_base=calls_base,
        )

    def progress(self) -> dict[str, Any]:
        keep = ("phase", "page", "after_pk", "resumes", "unshipped_checked", "details_fetched")
        return {k: v for k, v in asdict(self).items() if k in keep}

    def columns(self, client: StarshipitClient) -> dict[str, Any]:
        """The run row's values for this state (API calls so far, all processes)."""
        return {
            "pages": self.pages,
            "checked": self.checked,
            "matched": self.matched,
            "api_calls": self.api_calls + client.calls - self.calls_base,
            "progress": self.progress(),
        }


class Lease:
    """This process's claim on a run: renewed with every page, and at least every third
    of its length while a page takes long (detail calls at a low rate limit)."""

    def __init__(self, db: Database, run_id: int, owner: str, length: timedelta) -> None:
        self.db, self.run_id, self.owner, self.length = db, run_id, owner, length
        self._renewed = time.monotonic()

    def until(self) -> datetime:
        self._renewed = time.monotonic()
        return utcnow() + self.length

    def keep_alive(self) -> None:
        if time.monotonic() - self._renewed < self.length.total_seconds() / 3:
            return
        with self.db.write() as session:
            if not repo.update_owned_run(
                session, self.run_id, self.owner, lease_until=self.until()
            ):
                raise LeaseLost(f"reconciliation {self.run_id} was taken over")


@dataclass
class Pass:
    """What every pass needs: the run, its window, the client, its lease and state."""

    db: Database
    client: StarshipitClient
    run_id: int
    account_id: str
    since: datetime
    until: datetime
    lease: Lease
    state: RunState
    progress: Progress | None = None

    def save(self, drift: list[Drift], seen: list[int], **state: Any) -> None:
        """One finished page: its drift, the ids seen and the new state, together."""
        for name, value in state.items():
            setattr(self.state, name, value)
        with self.db.write() as session:
            repo.add_drift(session, self.run_id, drift)
            repo.mark_seen(session, self.run_id, seen)
            values = self.state.columns(self.client) | {"lease_until": self.lease.until()}
            if not repo.update_owned_run(session, self.run_id, self.lease.owner, **values):
                raise LeaseLost(f"reconciliation {self.run_id} was taken over")

    def already_seen(self, ids: list[int]) -> set[int]:
        """Orders a resumed run handled before it stopped (never reported twice)."""
        if not self.state.resumes:
            return set()
        with self.db.read() as session:
            return repo.seen_among(session, self.run_id, ids)


def _order_id(row: Mapping[str, Any]) -> int | None:
    value = row.get("order_id")
    return value if type(value) is int else None


def _shipped_date(row: Mapping[str, Any]) -> datetime | None:
    value = row.get("shipped_date")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _page(
    run: Pass, rows: list[dict[str, Any]]
) -> tuple[list[int], list[tuple[int, dict[str, Any]]], dict[int, MirrorOrder]]:
    """A listing page's order ids, its rows still to compare (a resumed run skips the
    orders it handled before it stopped), and the mirror's state of the page's orders."""
    ids = [oid for oid in (_order_id(r) for r in rows) if oid is not None]
    done = run.already_seen(ids)
    todo = [(oid, row) for oid, row in ((_order_id(r), r) for r in rows) if oid is not None]
    with run.db.read() as session:
        mirror = repo.mirror_orders(session, run.account_id, ids)
    return ids, [(oid, row) for oid, row in todo if oid not in done], mirror


def shipped_pass(run: Pass) -> None:
    pages = run.client.shipped_pages(run.since, first_page=run.state.page)
    for page, total, rows in pages:
        ids, todo, mirror = _page(run, rows)
        drift: list[Drift] = []
        for oid, row in todo:
            shipped_at = _shipped_date(row)
            if shipped_at is not None and shipped_at > run.until:
                continue  # shipped after the window: the next run looks at it
            run.state.checked += 1
            known = mirror.get(oid)
            if known is not None and known.consistently_shipped:
                run.state.matched += 1
                continue
            found = _detail_drift(run, known, oid, row)
            if not found:
                run.state.matched += 1
            drift.extend(found)
        run.save(drift, ids, page=page + 1, pages=run.state.pages + 1)
        if run.progress:
            run.progress(SHIPPED, page, total)


def _fetch(run: Pass, order_id: int) -> tuple[datetime, dict[str, Any] | StarshipitError]:
    """(when, the order's detail) — or the error Starshipit answered for it; raises when
    Starshipit is unavailable (the run fails and can be resumed). Keeps the lease."""
    run.lease.keep_alive()
    fetched_at = utcnow()
    try:
        order = run.client.get_order(order_id=order_id)
    except StarshipitUnavailable:
        raise
    except StarshipitError as error:
        return fetched_at, error
    run.state.details_fetched += 1
    return fetched_at, order


def _detail_drift(
    run: Pass, known: MirrorOrder | None, order_id: int, row: Mapping[str, Any]
) -> list[Drift]:
    fetched_at, order = _fetch(run, order_id)
    if isinstance(order, StarshipitError):
        error = order
        return [
            Drift(
                UNKNOWN_ORDER if known is None else STATUS_MISMATCH,
                order_id,
                row.get("order_number"),
                detail=f"listed as shipped but its detail could not be read: {error}",
            )
        ]
    return classify_shipped(known, order, fetched_at=fetched_at)


def unshipped_pass(run: Pass) -> None:
    for page, total, rows in run.client.unshipped_pages(run.since, first_page=run.state.page):
        _ids, todo, mirror = _page(run, rows)
        drift: list[Drift] = []
        for oid, row in todo:
            run.state.unshipped_checked += 1
            drift.extend(classify_unshipped(mirror.get(oid), row))
        # Orders reported here are not reported again by the ledger pass.
        seen = [d.order_id for d in drift if d.order_id]
        run.save(drift, seen, page=page + 1, pages=run.state.pages + 1)
        if run.progress:
            run.progress(UNSHIPPED, page, total)


def ledger_pass(run: Pass) -> None:
    """Orders the ledger shipped in the window that Starshipit did not list as shipped."""
    while True:
        with run.db.read() as session:
            chunk = repo.unlisted_shipped_orders(
                session,
                run_id=run.run_id,
                account_id=run.account_id,
                since=run.since,
                until=run.until,
                after_pk=run.state.after_pk,
                limit=LEDGER_CHUNK,
            )
            if not chunk:
                return
            mirror = repo.mirror_orders(session, run.account_id, [oid for _, oid in chunk])
        drift: list[Drift] = []
        for _, oid in chunk:
            known = mirror.get(oid)
            if known is None or not any(known.shipped.values()):
                continue
            drift.extend(_unlisted_drift(run, known, oid))
        run.save(drift, [], after_pk=chunk[-1][0])


def _unlisted_drift(run: Pass, known: MirrorOrder, order_id: int) -> list[Drift]:
    run.state.checked += 1
    fetched_at, order = _fetch(run, order_id)
    if isinstance(order, StarshipitError):
        order = {"order_id": order_id, "status": f"unreadable: {order}", "items": []}
    found = classify_unlisted(known, order, fetched_at=fetched_at)
    if not found:
        run.state.matched += 1
    return found
