"""The only code that reads and writes the inbox tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import dialect_insert, insert_for, pg_compiled, pg_json, pg_rows, prepared, table_of
from app.ledger.repository import PG_SHIPPING_FACTS_JSON
from app.orders.repository import pg_lock_order_sql
from app.timeutil import utcnow
from app.webhooks.models import EventConflict, InboxEvent

_INSERT_COLUMNS = (
    "account_id",
    "event_id",
    "source",
    "event_type",
    "occurred_at",
    "order_id",
    "order_number",
    "body_sha256",
    "payload",
    "status",
    "reason",
    "attempts",
    "next_attempt_at",
    "received_at",
    "applied_at",
)


def _insert_event_statement(dialect: str) -> Any:
    table = table_of(InboxEvent)
    return (
        dialect_insert(dialect, table)
        .values({name: sa.bindparam(name, type_=table.c[name].type) for name in _INSERT_COLUMNS})
        .on_conflict_do_nothing(index_elements=["account_id", "event_id"])
        .returning(table.c.id)
    )


# _insert_event_statement compiled for PostgreSQL (%(name)s parameters), for the driver.
_PG_INSERT_EVENT = str(pg_compiled(_insert_event_statement("postgresql")))


_STORED = f"WITH stored AS ({_PG_INSERT_EVENT}) "  # noqa: S608 - model names
_PG_STORE_EVENT_AND_LOCK_ORDER = _STORED + pg_lock_order_sql(
    gate="FROM stored",
    first=f"(SELECT id FROM stored) AS event_pk, {PG_SHIPPING_FACTS_JSON} AS facts",  # noqa: S608
)


def _event_params(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(_INSERT_COLUMNS)
    if unknown:
        raise TypeError(f"unknown inbox columns {sorted(unknown)}")
    params = dict.fromkeys(_INSERT_COLUMNS)
    params.update(received_at=utcnow(), attempts=1)
    params.update(values)
    return params


def insert_event(session: Session, **values: Any) -> int | None:
    """Store an event unless (account_id, event_id) is already stored; return its id."""
    params = _event_params(values)
    stmt = prepared(session, "inbox.insert_event", _insert_event_statement)
    return session.connection().execute(stmt, params).scalar()


def store_event_and_lock_order(
    session: Session, *, facts_for: Sequence[str], **values: Any
) -> tuple[int, Any] | None:
    """PostgreSQL: insert_event and, only for a new event, lock its order (fetch-or-create,
    as orders' lock_order) and read the shipping facts of `facts_for` (the SKUs it ships),
    all in one statement. Returns (event pk, the row: `facts` for the ledger's
    prefetched_shipping_facts, the order's columns last for orders' adopt_locked_order),
    or None when the event was already stored.

    The facts are read as the statement starts, before it may wait for the order's lock:
    they choose where stock is taken from, as ever without locking balances, which the
    movements then change by addition."""
    params = _event_params(values)
    params["now"] = params["received_at"]
    params["skus"] = pg_json(sorted(set(facts_for)))
    rows = pg_rows(session, _PG_STORE_EVENT_AND_LOCK_ORDER, params)
    return (int(rows[0].event_pk), rows[0]) if rows else None


def get_event(session: Session, account_id: str, event_id: str) -> InboxEvent | None:
    return session.scalars(
        sa.select(InboxEvent).where(
            InboxEvent.account_id == account_id, InboxEvent.event_id == event_id
        )
    ).first()


def lock_event(session: Session, account_id: str, event_id: str) -> InboxEvent | None:
    return session.scalars(
        sa.select(InboxEvent)
        .where(InboxEvent.account_id == account_id, InboxEvent.event_id == event_id)
        .with_for_update()
    ).first()


def set_status(
    session: Session,
    event_pk: int,
    status: str,
    *,
    reason: str | None = None,
    applied_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    session.execute(
        sa.update(InboxEvent)
        .where(InboxEvent.id == event_pk)
        .values(
            status=status, reason=reason, applied_at=applied_at, next_attempt_at=next_attempt_at
        )
    )


def store_conflict(
    session: Session, account_id: str, event_id: str, sha: str, payload: str
) -> None:
    stmt = insert_for(session, EventConflict).values(
        account_id=account_id,
        event_id=event_id,
        body_sha256=sha,
        payload=payload,
        received_at=utcnow(),
    )
    session.execute(
        stmt.on_conflict_do_nothing(index_elements=["account_id", "event_id", "body_sha256"])
    )


def events_query(
    account_id: str | None, statuses: Sequence[str] | None, source: str | None = None
) -> sa.Select:
    stmt = sa.select(InboxEvent)
    if account_id:
        stmt = stmt.where(InboxEvent.account_id == account_id)
    if statuses:
        stmt = stmt.where(InboxEvent.status.in_(statuses))
    if source:
        stmt = stmt.where(InboxEvent.source == source)
    return stmt.order_by(InboxEvent.id.desc())


def conflicts_query(account_id: str | None) -> sa.Select:
    stmt = sa.select(EventConflict)
    if account_id:
        stmt = stmt.where(EventConflict.account_id == account_id)
    return stmt.order_by(EventConflict.id.desc())


def replayable_ids(session: Session, limit: int) -> list[tuple[str, str]]:
    rows = session.execute(
        sa.select(InboxEvent.account_id, InboxEvent.event_id)
        .where(InboxEvent.status.in_(("parked", "pending")))
        # tracking work has its own retry (app.reconcile.tracking.retry_tracking)
        .where(InboxEvent.source == "orders")
        .where(sa.or_(InboxEvent.next_attempt_at.is_(None), InboxEvent.next_attempt_at <= utcnow()))
        .order_by(InboxEvent.id)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


def count_status(session: Session, status: str) -> int:
    return int(session.scalar(sa.select(sa.func.count()).where(InboxEvent.status == status)) or 0)
