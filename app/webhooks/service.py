"""receive → store → apply → mark, in one transaction (ARCHITECTURE: data flow)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from app.allocation import hooks as allocation
from app.db import Database
from app.failures import is_unavailable, short_reason
from app.ledger import repository as ledger_repo
from app.orders import repository as orders_repo
from app.orders.domain import OrderEvent, ParkEvent
from app.orders.models import Order
from app.orders.service import apply_order_event
from app.schemas import INT64_MAX, INT64_MIN
from app.timeutil import utcnow
from app.webhooks import inbox
from app.webhooks.models import REPLAYABLE_STATUSES, InboxEvent
from app.webhooks.schemas import flatten_errors, load_order_event

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


def receive_order_event(
    db: Database, document: dict[str, Any], raw: bytes, *, account_id: str | None = None
) -> Received:
    """Store and apply one validated order event; the answer is only given after commit.

    `account_id`, when given, is the account whose webhook secret verified the body
    (STOCKMIRROR_ACCOUNTS): the event belongs to it, and an envelope naming another
    account is refused (422) before anything is stored."""
    event = load_order_event(document)
    if account_id is not None:
        event = replace(event, account_id=_signed_account(document, account_id))
    return store_order_event(db, event, raw)


def _signed_account(document: dict[str, Any], account_id: str) -> str:
    named = document.get("account_id")
    if named is not None and named != account_id:
        raise ValidationError(
            {"account_id": ["names another account than the one whose secret signed the body"]}
        )
    return account_id


def store_order_event(db: Database, event: OrderEvent, raw: bytes) -> Received:
    """Store and apply a loaded order event (the webhook path after validation)."""
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
    except Exception as error:  # noqa: BLE001 - anything but storage down parks the event
        if is_unavailable(error):
            raise
        reason = _reason(error, f"applying event {event.event_id!r}")
    try:
        return db.run(lambda s: _park_new(s, event, sha, payload, reason))
    except Exception as error:  # noqa: BLE001 - the database will not even keep it
        if is_unavailable(error):
            raise
        why = short_reason(error, log, f"storing event {event.event_id!r}")
        raise ValidationError({"_schema": [f"the event cannot be stored: {why}"]}) from None


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
    ships = (
        [line.sku for line in event.lines if line.sku is not None]
        if event.event_type == "order_shipped"
        else []
    )
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


def park_unreadable(
    db: Database,
    envelope: dict[str, Any],
    raw: bytes,
    error: ValidationError,
    *,
    account_id: str,
) -> Received:
    """Keep an order event that does not validate (polling reads Starshipit's listings,
    which no webhook sender checked): stored parked with the fields at fault, visible,
    replayable and discardable, so the poll cursor can move on without losing it."""
    names = ", ".join(sorted(flatten_errors(error.messages)))
    reason = f"does not validate: {names}"[:2000]
    order = envelope.get("order")
    order_id = order.get("order_id") if isinstance(order, dict) else None
    number = order.get("order_number") if isinstance(order, dict) else None
    event_id = str(envelope.get("event_id"))
    values: dict[str, Any] = {
        "account_id": account_id,
        "event_id": event_id,
        "source": "orders",
        "event_type": str(envelope.get("event_type")),
        "occurred_at": utcnow(),
        "order_id": order_id
        if type(order_id) is int and INT64_MIN <= order_id <= INT64_MAX
        else None,
        "order_number": number[:100] if isinstance(number, str) and number.isprintable() else None,
        "body_sha256": body_sha256(raw),
        "payload": raw.decode("utf-8"),
    }

    def work(session: Session) -> Received:
        stored = inbox.insert_event(session, **values, status="parked", reason=reason)
        if stored is None:
            return Received("duplicate", event_id)
        return Received("parked", event_id, reason)

    return db.run(work)


def _reason(error: BaseException, doing: str) -> str:
    if isinstance(error, ParkEvent):
        return str(error)[:2000]
    return short_reason(error, log, doing)


RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """How long stored work waits after its `attempts`-th failed attempt."""
    return min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1))


class ReplayRefused(Exception):
    pass


def replay_event(db: Database, account_id: str, event_id: str) -> Received:
    """Apply a parked (or pending) order event again. Final events are refused
    (ReplayRefused), unknown ones are a LookupError. An event that fails again stays
    parked with its new short reason and a next attempt time; an event the database
    refuses never raises (only storage being down does)."""
    try:
        return db.run(lambda session: _replay(session, account_id, event_id))
    except (LookupError, ReplayRefused):
        raise
    except Exception as error:  # noqa: BLE001 - a poisoned event must not stop anything
        if is_unavailable(error):
            raise
        reason = short_reason(error, log, f"replaying event {event_id!r}")
    return db.run(lambda session: _record_failure(session, account_id, event_id, reason))


def _lock_waiting(
    session: Session, account_id: str, event_id: str, refused: type[Exception], action: str
) -> InboxEvent:
    """The parked or pending event, locked (LookupError, or `refused` naming `action`)."""
    stored = inbox.lock_event(session, account_id, event_id)
    if stored is None:
        raise LookupError(f"no event {event_id!r} in account {account_id!r}")
    if stored.status not in REPLAYABLE_STATUSES:
        raise refused(
            f"event {event_id!r} is {stored.status}; only parked or pending events {action}"
        )
    return stored


def _replay(session: Session, account_id: str, event_id: str) -> Received:
    stored = _lock_waiting(session, account_id, event_id, ReplayRefused, "replay")
    if stored.source != "orders":
        raise ReplayRefused(f"event {event_id!r} is a {stored.source} event")
    stored.attempts += 1
    try:
        event = load_order_event(json.loads(stored.payload))
    except ValidationError as error:
        names = ", ".join(sorted(flatten_errors(error.messages)))
        return _park_again(stored, f"stored payload does not validate: {names}")
    except ValueError:
        return _park_again(stored, "stored payload is not JSON")
    # The stored row's account is the event's (the signing secret chose it at ingest).
    event = replace(event, account_id=stored.account_id)
    try:
        with session.begin_nested():
            result = apply_order_event(session, event, actor="replay")
    except ParkEvent as error:
        return _park_again(stored, str(error))
    stored.status, stored.reason, stored.applied_at = result.outcome, None, utcnow()
    stored.next_attempt_at = None
    return Received(result.outcome, event_id)


def _park_again(stored: InboxEvent, reason: str) -> Received:
    stored.status, stored.reason = "parked", reason[:2000]
    stored.next_attempt_at = utcnow() + backoff(stored.attempts)
    return Received("parked", stored.event_id, stored.reason)


def _record_failure(session: Session, account_id: str, event_id: str, reason: str) -> Received:
    """After a replay the database refused (rolled back): count the attempt, keep it
    parked with the short reason and a next attempt time."""
    stored = inbox.lock_event(session, account_id, event_id)
    if stored is None or stored.status not in REPLAYABLE_STATUSES:
        raise LookupError(f"no replayable event {event_id!r} in account {account_id!r}")
    stored.attempts += 1
    return _park_again(stored, reason)


def replay_due(db: Database, limit: int = 500) -> list[Received]:
    """Replay parked/pending events whose retry time has come (oldest first). One event
    never stops the others: each is its own transaction, and a failure is recorded on
    the event; only storage being down ends the run early."""
    with db.read() as session:
        due = inbox.replayable_ids(session, limit)
    results = []
    for account_id, event_id in due:
        try:
            results.append(replay_event(db, account_id, event_id))
        except (LookupError, ReplayRefused):
            continue  # replayed or discarded meanwhile by someone else
    return results


class DiscardRefused(Exception):
    pass


def discard_event(
    db: Database, account_id: str, event_id: str, *, reason: str, actor: str
) -> InboxEvent:
    """Retire a parked (or pending) event for good: kept, marked discarded, with who,
    when and why. Discarded events are never replayed or retried."""

    def work(session: Session) -> InboxEvent:
        action = "can be discarded"
        stored = _lock_waiting(session, account_id, event_id, DiscardRefused, action)
        stored.status, stored.next_attempt_at = "discarded", None
        stored.discarded_at, stored.discarded_by = utcnow(), actor[:200]
        stored.discard_reason = reason
        session.flush()
        return stored

    discarded: InboxEvent = db.run(work)
    log.info("event %r discarded by %r", event_id, actor)
    return discarded
