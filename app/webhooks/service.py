"""receive → store → apply → mark, in one transaction (ARCHITECTURE: data flow)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import exc
from sqlalchemy.orm import Session

from app.allocation import hooks as allocation
from app.db import Database, StorageUnavailable
from app.ledger import repository as ledger_repo
from app.orders import repository as orders_repo
from app.orders.domain import OrderEvent, ParkEvent
from app.orders.models import Order
from app.orders.service import apply_order_event
from app.timeutil import utcnow
from app.webhooks import inbox
from app.webhooks.models import InboxEvent
from app.webhooks.schemas import load_order_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    status: str
    event_id: str
    reason: str | None = None


def fingerprint(document: Any) -> str:
    """Content hash independent of key order and whitespace."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def body_sha256(raw: bytes) -> str:
    """What the inbox keeps of a body to recognise its redelivery (hash of the bytes)."""
    return hashlib.sha256(raw).hexdigest()


def same_body(stored: InboxEvent, sha: str, payload: str) -> bool:
    """Whether a redelivered body is the stored one: byte for byte, or the same JSON
    in another key order or spacing (anything else is a conflict kept for review)."""
    if stored.body_sha256 == sha:
        return True
    try:
        return fingerprint(json.loads(stored.payload)) == fingerprint(json.loads(payload))
    except ValueError:
        return False


def receive_order_event(db: Database, document: dict[str, Any], raw: bytes) -> Received:
    """Store and apply one validated order event; the answer is only given after commit."""
    event = load_order_event(document)
    sha = body_sha256(raw)
    payload = raw.decode("utf-8")

    def work(session: Session) -> Received:
        stored = _store_and_lock(session, event, sha, payload, one_statement=db.is_postgres)
        if stored is None:
            return _redelivery(session, event, sha, payload)
        event_pk, locked = stored
        result = apply_order_event(session, event, locked=locked)
        if result.outcome != "applied":
            inbox.set_status(session, event_pk, result.outcome, applied_at=utcnow())
        return Received(result.outcome, event.event_id)

    try:
        return db.run(work)
    except (StorageUnavailable, exc.OperationalError, exc.InterfaceError):
        raise
    except Exception as error:  # noqa: BLE001 - anything else parks the event, durably
        reason = _reason(error)
        if not isinstance(error, ParkEvent):
            log.exception("event %s could not be applied; parking it", event.event_id)
        return db.run(lambda s: _park_new(s, event, sha, payload, reason))


def _redelivery(session: Session, event: OrderEvent, sha: str, payload: str) -> Received:
    stored = inbox.get_event(session, event.account_id, event.event_id)
    assert stored is not None
    if same_body(stored, sha, payload):
        return Received("duplicate", event.event_id)
    inbox.store_conflict(session, event.account_id, event.event_id, sha, payload)
    return Received(
        "conflict",
        event.event_id,
        reason="a different body was already stored under this event_id; kept for review",
    )


def _store(
    session: Session, event: OrderEvent, sha: str, payload: str, **status: Any
) -> int | None:
    """Insert the event into the inbox (None when its event_id is already stored)."""
    return inbox.insert_event(session, **_inbox_values(event, sha, payload), **status)


def _inbox_values(event: OrderEvent, sha: str, payload: str) -> dict[str, Any]:
    return {
        "account_id": event.account_id,
        "event_id": event.event_id,
        "source": "orders",
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
        "order_id": event.order_id,
        "order_number": event.order_number,
        "body_sha256": sha,
        "payload": payload,
    }


def _store_and_lock(
    session: Session, event: OrderEvent, sha: str, payload: str, *, one_statement: bool
) -> tuple[int, tuple[Order, bool] | None] | None:
    """Store a new event as applied (None if already stored) and, with `one_statement`
    (PostgreSQL), lock its order and read the shipping facts of what it ships in the
    same round trip (else apply_order_event locks it and the ledger reads them)."""
    if not one_statement:
        event_pk = _store(session, event, sha, payload, status="applied", applied_at=utcnow())
        return None if event_pk is None else (event_pk, None)
    ships = [line.sku for line in event.lines] if event.event_type == "order_shipped" else []
    stored = inbox.store_event_and_lock_order(
        session,
        facts_for=ships,
        **_inbox_values(event, sha, payload),
        status="applied",
        applied_at=utcnow(),
    )
    if stored is None:
        return None
    event_pk, row = stored
    ledger_repo.prefetched_shipping_facts(session, ships, row.facts)
    attach = allocation.loads_orders(session)
    return event_pk, orders_repo.adopt_locked_order(session, row, attach=attach)


def _park_new(session: Session, event: OrderEvent, sha: str, payload: str, reason: str) -> Received:
    event_pk = _store(session, event, sha, payload, status="parked", reason=reason)
    if event_pk is None:  # stored meanwhile by a concurrent delivery
        return _redelivery(session, event, sha, payload)
    return Received("parked", event.event_id, reason=reason)


def _reason(error: BaseException) -> str:
    if isinstance(error, ParkEvent):
        return str(error)
    return f"internal error while applying: {type(error).__name__}: {error}"[:2000]


class ReplayRefused(Exception):
    pass


def replay_event(db: Database, account_id: str, event_id: str) -> Received:
    """Apply a parked (or pending) order event again. Final events are refused."""

    def work(session: Session) -> Received:
        stored = inbox.lock_event(session, account_id, event_id)
        if stored is None:
            raise LookupError(f"no event {event_id!r} in account {account_id!r}")
        if stored.status not in ("parked", "pending"):
            raise ReplayRefused(
                f"event {event_id!r} is {stored.status}; only parked or pending events replay"
            )
        if stored.source != "orders":
            raise ReplayRefused(f"event {event_id!r} is a {stored.source} event")
        stored.attempts += 1
        try:
            event = load_order_event(json.loads(stored.payload))
        except (ValueError, ValidationError) as error:
            stored.reason = f"stored payload no longer validates: {error}"
            return Received("parked", event_id, stored.reason)
        parked_reason: str | None = None
        try:
            with session.begin_nested():
                result = apply_order_event(session, event, actor="replay")
        except ParkEvent as error:
            parked_reason = str(error)
        if parked_reason is not None:
            stored.status, stored.reason = "parked", parked_reason
            return Received("parked", event_id, parked_reason)
        stored.status, stored.reason, stored.applied_at = result.outcome, None, utcnow()
        return Received(result.outcome, event_id)

    return db.run(work)


def replay_due(db: Database, limit: int = 500) -> list[Received]:
    """Replay parked/pending events whose retry time has come (oldest first)."""
    with db.read() as session:
        due = inbox.replayable_ids(session, limit)
    results = []
    for account_id, event_id in due:
        try:
            results.append(replay_event(db, account_id, event_id))
        except (LookupError, ReplayRefused):
            continue  # replayed meanwhile by someone else
    return results
