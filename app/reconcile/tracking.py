"""Starshipit's tracking webhook (CONTRACT §3): dedupe, fetch the order, apply it shipped.

The notification is stored in the inbox (source `tracking`) before anything else. When the
label exists and the mirror has not fully shipped the order, the order is fetched from
Starshipit and applied through apply_order_event as `order_shipped`. If Starshipit cannot
be reached the row stays `pending` with a growing `next_attempt_at`; after
STOCKMIRROR_TRACKING_MAX_ATTEMPTS failures it is `parked` (visible, retryable by hand).
Nothing is dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError
from sqlalchemy.orm import Session

from app.db import Database
from app.failures import is_unavailable, short_reason
from app.orders import repository as orders_repo
from app.orders.domain import OrderStatus, ParkEvent
from app.orders.models import Order
from app.orders.service import apply_order_event
from app.reconcile import repository as repo
from app.reconcile.client import StarshipitClient, StarshipitError
from app.reconcile.domain import synthetic_time
from app.reconcile.service import order_event_from_starshipit
from app.schemas import Text, Time
from app.timeutil import utcnow
from app.webhooks import inbox
from app.webhooks.models import InboxEvent
from app.webhooks.schemas import flatten_errors
from app.webhooks.service import backoff, body_sha256, same_body

log = logging.getLogger(__name__)

SOURCE = "tracking"
EVENT_TYPE = "tracking"
# Fetch-and-apply work stored by polling for an order Starshipit lists as shipped.
POLL_SHIPPED = "poll_shipped"


class NumberAsText(Text):
    """Text, or a JSON integer read as its text (Starshipit sends `order_number` both
    ways in the tracking webhook)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class TrackingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    order_number = NumberAsText(
        Order.order_number, required=True, metadata={"type": ["string", "integer"]}
    )
    tracking_status = Text(max=50, required=True)
    tracking_number = Text(min=0, blank=True, load_default=None, allow_none=True)
    last_updated_date = Text(min=0, blank=True, load_default=None, allow_none=True)
    carrier_name = Text(min=0, blank=True, load_default=None, allow_none=True)
    carrier_service = Text(min=0, blank=True, load_default=None, allow_none=True)
    shipment_date = Time(load_default=None, allow_none=True)
    order_reference = Text(min=0, blank=True, load_default=None, allow_none=True)


@dataclass(frozen=True)
class Outcome:
    status: str  # applied | duplicate | conflict | ignored | stale | parked | pending
    event_id: str
    reason: str | None = None


class NotRetryable(Exception):
    pass


def dedupe_id(data: dict[str, Any]) -> str:
    """CONTRACT §3 key: (order_number, tracking_number, tracking_status, last_updated_date)."""
    key = "\x1f".join(
        str(data.get(k) or "")
        for k in ("order_number", "tracking_number", "tracking_status", "last_updated_date")
    )
    return "trk:" + hashlib.sha256(key.encode()).hexdigest()


def label_exists(status: str) -> bool:
    return status.strip().lower() not in ("cancelled", "canceled")


def receive_tracking(
    db: Database,
    client_factory: Any,
    document: Any,
    raw: bytes,
    *,
    account_id: str,
    max_attempts: int,
) -> Outcome:
    """Store the notification, then try the Starshipit fetch once (the retry job does the
    rest). `client_factory()` returns a StarshipitClient or raises StarshipitError."""
    if not isinstance(document, dict):
        raise ValidationError({"_schema": ["body must be a JSON object"]})
    try:
        data = TrackingSchema().load(document)
    except ValidationError as error:
        raise ValidationError(flatten_errors(error.messages)) from None
    event_id = dedupe_id(data)
    sha = body_sha256(raw)
    payload = raw.decode("utf-8")
    order_number = data["order_number"]

    def store(session: Session) -> Outcome:
        status, reason = "pending", None
        if not label_exists(data["tracking_status"]):
            status, reason = "ignored", "label cancelled: nothing shipped"
        else:
            order = orders_repo.find_order_by_number(session, account_id, order_number)
            if order is not None and order.status == OrderStatus.SHIPPED:
                status, reason = "ignored", "the mirror already has the order fully shipped"
        pk = _insert_work(
            session,
            account_id,
            event_id,
            EVENT_TYPE,
            None,
            order_number,
            payload,
            status=status,
            reason=reason,
        )
        if pk is None:
            stored = inbox.get_event(session, account_id, event_id)
            assert stored is not None
            if same_body(stored, sha, payload):
                return Outcome("duplicate", event_id)
            inbox.store_conflict(session, account_id, event_id, sha, payload)
            return Outcome("conflict", event_id, "same tracking key with a different body")
        return Outcome(status, event_id, reason)

    stored = db.run(store)
    if stored.status != "pending":
        return stored
    try:
        client = client_factory()
    except StarshipitError as error:
        return _failed(db, account_id, event_id, str(error), max_attempts)
    return process_tracking(db, client, account_id, event_id, max_attempts=max_attempts)


@dataclass(frozen=True)
class _Work:
    """What a stored fetch-and-apply row asks for."""

    order_id: int | None
    order_number: str
    listed_as_shipped: bool  # stored by polling from Starshipit's shipped listing


def _load_work(db: Database, account_id: str, event_id: str, allowed: tuple[str, ...]) -> _Work:
    with db.read() as session:
        stored = inbox.get_event(session, account_id, event_id)
        if stored is None or stored.source != SOURCE:
            raise LookupError(f"no tracking event {event_id!r} in account {account_id!r}")
        if stored.status not in allowed:
            raise NotRetryable(f"tracking event {event_id!r} is {stored.status}")
        polled = stored.event_type == POLL_SHIPPED
        order_id = stored.order_id if polled else None
        if order_id is None and not stored.order_number:
            raise NotRetryable(f"tracking event {event_id!r} names no order")
        return _Work(order_id, stored.order_number or "", listed_as_shipped=polled)


def _insert_work(
    session: Session,
    account_id: str,
    event_id: str,
    event_type: str,
    order_id: int | None,
    order_number: str | None,
    payload: str,
    *,
    status: str,
    reason: str | None,
) -> int | None:
    """Store fetch-and-apply work (None: its event id is already stored). Pending work
    is due now; ignored work is done now."""
    now = utcnow()
    return inbox.insert_event(
        session,
        account_id=account_id,
        event_id=event_id,
        source=SOURCE,
        event_type=event_type,
        occurred_at=now,
        order_id=order_id,
        order_number=order_number,
        body_sha256=body_sha256(payload.encode()),
        payload=payload,
        status=status,
        reason=reason,
        attempts=0,
        applied_at=now if status == "ignored" else None,
        next_attempt_at=now if status == "pending" else None,
    )


def store_shipped_work(
    db: Database, account_id: str, rows: list[tuple[int | None, str | None, str]]
) -> list[str]:
    """Polling: keep fetch-and-apply work for orders Starshipit lists as shipped that the
    mirror has not fully shipped; rows are (order_id, order_number, shipped row as JSON).
    Returns the event ids of the work stored now as pending (work stored by an earlier
    poll is a duplicate: the retry job has it). A row naming no order is kept parked."""

    def store(session: Session) -> list[str]:
        stored = []
        for order_id, number, payload in rows:
            digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
            event_id = f"poll-shipped:{order_id}:{digest}"
            named = order_id is not None or bool(number)
            pk = _insert_work(
                session,
                account_id,
                event_id,
                POLL_SHIPPED,
                order_id,
                number,
                payload,
                status="pending" if named else "parked",
                reason=None if named else "shipped listing row without order_id or order_number",
            )
            if pk is not None and named:
                stored.append(event_id)
        return stored

    return db.run(store)


def process_tracking(
    db: Database,
    client: StarshipitClient,
    account_id: str,
    event_id: str,
    *,
    max_attempts: int,
    manual: bool = False,
) -> Outcome:
    """Fetch the order and apply it; on failure keep the work for later (or park it)."""
    allowed = ("pending", "parked") if manual else ("pending",)
    work = _load_work(db, account_id, event_id, allowed)
    fetched_at = utcnow()
    try:
        if work.order_id is not None:
            order = client.get_order(order_id=work.order_id)
        else:
            order = client.get_order(order_number=work.order_number)
    except StarshipitError as error:
        return _failed(db, account_id, event_id, f"Starshipit: {error}", max_attempts)
    try:
        return db.run(
            lambda session: _apply_fetched(
                session, account_id, event_id, allowed, order, fetched_at, work
            )
        )
    except Exception as error:  # noqa: BLE001 - a refused write is a failed attempt
        if is_unavailable(error):
            raise
        reason = short_reason(error, log, f"applying tracking work {event_id!r}")
    return _failed(db, account_id, event_id, reason, max_attempts)


def _apply_fetched(
    session: Session,
    account_id: str,
    event_id: str,
    allowed: tuple[str, ...],
    order: dict[str, Any],
    fetched_at: datetime,
    work: _Work,
) -> Outcome:
    row = inbox.lock_event(session, account_id, event_id)
    if row is None or row.status not in allowed:
        return Outcome(row.status if row else "missing", event_id)
    row.attempts += 1
    order_id = order.get("order_id")
    known = (
        repo.mirror_orders(session, account_id, [order_id]).get(order_id)
        if isinstance(order_id, int)
        else None
    )
    try:
        event = order_event_from_starshipit(
            order,
            event_type="order_shipped",
            event_id=event_id,
            occurred_at=synthetic_time(fetched_at, known.newest if known else None),
            account_id=account_id,
            listed_as_shipped=work.listed_as_shipped,
        )
    except ValidationError as error:
        return _park(row, f"Starshipit's order does not validate: {_fields(error)}")
    try:
        with session.begin_nested():
            result = apply_order_event(session, event, actor="tracking")
    except ParkEvent as error:
        return _park(row, str(error))
    row.order_id = event.order_id
    row.status, row.reason, row.applied_at, row.next_attempt_at = (
        result.outcome,
        None,
        utcnow(),
        None,
    )
    return Outcome(result.outcome, event_id)


def _fields(error: ValidationError) -> str:
    flat = flatten_errors(error.messages)
    return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in sorted(flat.items()))[:500]


def _park(row: InboxEvent, reason: str) -> Outcome:
    row.status, row.reason, row.next_attempt_at = "parked", reason[:2000], None
    return Outcome("parked", row.event_id, row.reason)


def _failed(
    db: Database, account_id: str, event_id: str, reason: str, max_attempts: int
) -> Outcome:
    def work(session: Session) -> Outcome:
        row = inbox.lock_event(session, account_id, event_id)
        assert row is not None
        row.attempts += 1
        if row.attempts >= max_attempts:
            return _park(row, f"gave up after {row.attempts} attempts: {reason}")
        row.status, row.reason = "pending", reason[:2000]
        row.next_attempt_at = utcnow() + backoff(row.attempts)
        return Outcome("pending", event_id, row.reason)

    outcome: Outcome = db.run(work)
    log.warning("tracking %s: %s (%s)", event_id, outcome.status, reason)
    return outcome


ClientFor = Callable[[str], StarshipitClient | None]


def retry_tracking(
    db: Database,
    clients: StarshipitClient | ClientFor,
    *,
    max_attempts: int,
    limit: int = 200,
    now: datetime | None = None,
    accounts: Sequence[str] | None = None,
) -> list[Outcome]:
    """Retry pending tracking work whose time has come (oldest first), each with the
    client of its account (`clients(account_id)`, None: that account has no API keys and
    its work waits). `accounts` limits the work to those accounts."""
    with db.read() as session:
        due = repo.due_tracking(session, SOURCE, now or utcnow(), limit, accounts)
    results = []
    for account_id, event_id in due:
        client = clients if isinstance(clients, StarshipitClient) else clients(account_id)
        if client is None:
            continue
        try:
            results.append(
                process_tracking(db, client, account_id, event_id, max_attempts=max_attempts)
            )
        except (LookupError, NotRetryable):
            continue  # handled meanwhile by another worker
    return results
