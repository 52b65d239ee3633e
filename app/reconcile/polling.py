"""Polling mode for accounts that cannot receive order events (CONTRACT §5 `poll`).

Two listings, each with its own cursor in the database (poll_cursors), read from
`cursor − overlap` page by page:

- `GET /api/orders/unshipped`: new or changed orders go through the webhook path
  (store_order_event: inbox, then apply_order_event). An order that does not validate is
  kept parked in the inbox with the fields at fault (visible, replayable, discardable).
- `GET /api/orders/shipped`: an order the mirror has not fully shipped is kept as
  fetch-and-apply work (the tracking webhook's), fetched and applied as `order_shipped`
  now or by the retry job later; its lines count as shipped in full when Starshipit
  gives no shipped quantities (CONTRACT §3).

A cursor only moves after every order of its listing was stored, so a crash, Starshipit
failing or the database refusing re-reads instead of skipping anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError

from app.db import Database
from app.reconcile import repository as repo
from app.reconcile.client import StarshipitClient
from app.reconcile.domain import MirrorOrder, synthetic_time
from app.reconcile.tracking import process_tracking, store_shipped_work
from app.timeutil import isoformat, utcnow
from app.webhooks.schemas import load_order_event
from app.webhooks.service import park_unreadable, store_order_event

log = logging.getLogger(__name__)

UNSHIPPED_CURSOR = "unshipped"
SHIPPED_CURSOR = "shipped"
DEFAULT_OVERLAP = timedelta(minutes=5)
FIRST_POLL_WINDOW = timedelta(hours=24)


@dataclass
class PollResult:
    since: datetime
    cursor: datetime
    seen: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    parked: int = 0
    invalid: int = 0
    shipped_seen: int = 0
    shipped_queued: int = 0
    shipped_applied: int = 0

    def describe(self) -> str:
        return (
            f"{self.seen} unshipped orders since {isoformat(self.since)}: {self.created} "
            f"created, {self.changed} changed, {self.parked} parked ({self.invalid} did not "
            f"validate); {self.shipped_seen} shipped: {self.shipped_queued} to fetch, "
            f"{self.shipped_applied} applied"
        )


def polled_lines(order: Mapping[str, Any]) -> list[tuple[str | None, int]]:
    """(sku, quantity) of each item as the mirror keeps lines (sku None: non-stock line;
    a quantity that is not an integer never equals a stored one)."""
    lines: list[tuple[str | None, int]] = []
    for item in order.get("items") or []:
        if isinstance(item, Mapping):
            qty = item.get("quantity")
            sku = item.get("sku")
            lines.append(
                (str(sku) if sku not in (None, "") else None, qty if type(qty) is int else -1)
            )
    return lines


def poll_account(
    db: Database,
    client: StarshipitClient,
    *,
    account_id: str = "default",
    overlap: timedelta = DEFAULT_OVERLAP,
    max_attempts: int = 8,
) -> PollResult:
    """Poll both listings of one account (unshipped, then shipped)."""
    started = utcnow()
    with db.read() as session:
        cursor = repo.get_cursor(session, account_id, UNSHIPPED_CURSOR)
        shipped_cursor = repo.get_cursor(session, account_id, SHIPPED_CURSOR)
    since = (cursor - overlap) if cursor else started - FIRST_POLL_WINDOW
    result = PollResult(since=since, cursor=started)
    for _page, _total, rows in client.unshipped_pages(since):
        _poll_unshipped_page(db, account_id, rows, started, result)
    _move_cursor(db, account_id, UNSHIPPED_CURSOR, started)
    shipped_since = (shipped_cursor - overlap) if shipped_cursor else started - FIRST_POLL_WINDOW
    queued: list[str] = []
    for _page, _total, rows in client.shipped_pages(shipped_since):
        queued += _poll_shipped_page(db, account_id, rows, result)
    _move_cursor(db, account_id, SHIPPED_CURSOR, started)
    for event_id in queued:
        outcome = process_tracking(db, client, account_id, event_id, max_attempts=max_attempts)
        result.shipped_applied += outcome.status == "applied"
    log.info("poll %s: %s", account_id, result.describe())
    return result


def _move_cursor(db: Database, account_id: str, name: str, at: datetime) -> None:
    with db.write() as session:
        repo.set_cursor(session, account_id, name, at)


def _poll_unshipped_page(
    db: Database,
    account_id: str,
    rows: list[dict[str, Any]],
    started: datetime,
    result: PollResult,
) -> None:
    ids = [int(r["order_id"]) for r in rows if _order_id(r) is not None]
    with db.read() as session:
        lines = repo.mirror_lines(session, account_id, ids)
        mirror = repo.mirror_orders(session, account_id, ids)
    for order in rows:
        result.seen += 1
        oid = _order_id(order)
        if oid is not None and oid in lines and lines[oid] == polled_lines(order):
            result.unchanged += 1
            continue
        known = mirror.get(oid) if oid is not None else None
        outcome = _store_polled(db, account_id, order, known, started, new=oid not in lines)
        if outcome == "parked":
            result.parked += 1
        elif outcome == "invalid":
            result.parked += 1
            result.invalid += 1
        elif outcome == "order_created":
            result.created += 1
        else:
            result.changed += 1


def _order_id(row: Mapping[str, Any]) -> int | None:
    value = row.get("order_id")
    return value if type(value) is int else None


def _store_polled(
    db: Database,
    account_id: str,
    order: dict[str, Any],
    known: MirrorOrder | None,
    started: datetime,
    *,
    new: bool,
) -> str:
    """Store one polled order through the webhook path; what happened to it."""
    event_type = "order_created" if new else "order_changed"
    occurred = synthetic_time(started, known.newest if known else None)
    digest = hashlib.sha256(json.dumps(order, sort_keys=True, default=str).encode()).hexdigest()
    key = f"poll:{order.get('order_id')}:{digest[:16]}"
    envelope = {
        "event_id": f"{key}:{int(occurred.timestamp() * 1000)}",
        "event_type": event_type,
        "occurred_at": isoformat(occurred),
        "account_id": account_id,
        "order": order,
    }
    raw = json.dumps(envelope, separators=(",", ":"), default=str).encode()
    try:
        event = load_order_event(envelope)
    except ValidationError as error:  # kept, never skipped: the cursor may then move on
        # The same unreadable order polled again is the same event (a duplicate).
        envelope["event_id"] = key
        raw = json.dumps(envelope, separators=(",", ":"), default=str).encode()
        park_unreadable(db, envelope, raw, error, account_id=account_id)
        log.warning("poll: order %r does not validate; parked", order.get("order_id"))
        return "invalid"
    received = store_order_event(db, event, raw)
    return "parked" if received.status == "parked" else event_type


def _poll_shipped_page(
    db: Database, account_id: str, rows: list[dict[str, Any]], result: PollResult
) -> list[str]:
    """Keep fetch-and-apply work for listed orders the mirror has not fully shipped."""
    ids = [oid for oid in (_order_id(r) for r in rows) if oid is not None]
    with db.read() as session:
        mirror = repo.mirror_orders(session, account_id, ids)
    work: list[tuple[int | None, str | None, str]] = []
    for row in rows:
        result.shipped_seen += 1
        oid = _order_id(row)
        known = mirror.get(oid) if oid is not None else None
        if known is not None and known.consistently_shipped:
            continue
        number = row.get("order_number")
        number = number[:100] if isinstance(number, str) and number.isprintable() else None
        work.append((oid, number, json.dumps(row, sort_keys=True, default=str)))
    queued = store_shipped_work(db, account_id, work) if work else []
    result.shipped_queued += len(queued)
    return queued
