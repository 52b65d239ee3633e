"""The only code that reads and writes the order mirror's tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import dialect_insert, prepared, table_of
from app.orders.domain import Line, OrderEvent
from app.orders.models import Order, OrderLine, TimelineEntry
from app.timeutil import utcnow


def _lock_order_statement(dialect: str) -> Any:
    table = table_of(Order)
    now = sa.bindparam("now", type_=table.c.created_at.type)
    upsert = dialect_insert(dialect, table).values(
        account_id=sa.bindparam("account_id"),
        order_id=sa.bindparam("order_id"),
        status="PENDING",
        allocation_status="UNALLOCATED",
        created_at=now,
        updated_at=now,
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=["account_id", "order_id"], set_={"updated_at": upsert.excluded.updated_at}
    ).returning(*table.c)
    # A Core upsert read back as an ORM entity: half the cost of an ORM-enabled INSERT.
    return sa.select(Order).from_statement(upsert)


def lock_order(session: Session, account_id: str, order_id: int) -> tuple[Order, bool]:
    """Fetch-or-create the order row and hold its row lock until the transaction ends.

    One round trip: INSERT … ON CONFLICT DO UPDATE … RETURNING locks the row on
    PostgreSQL (concurrent events for one order queue here); SQLite's BEGIN IMMEDIATE
    already serialises writers. Returns (order, created).
    """
    stmt = prepared(session, "orders.lock_order", _lock_order_statement)
    params = {"account_id": account_id, "order_id": order_id, "now": utcnow()}
    order = session.scalars(stmt, params, execution_options={"populate_existing": True}).one()
    created = order.content_at is None and order.deleted_at is None and order.shipped_at is None
    return order, created


def get_order(session: Session, account_id: str, order_id: int) -> Order | None:
    return session.scalars(
        sa.select(Order).where(Order.account_id == account_id, Order.order_id == order_id)
    ).first()


def find_order_by_number(session: Session, account_id: str, order_number: str) -> Order | None:
    return session.scalars(
        sa.select(Order)
        .where(Order.account_id == account_id, Order.order_number == order_number)
        .order_by(Order.id.desc())
    ).first()


def lines_of(session: Session, order_pk: int) -> list[OrderLine]:
    return list(
        session.scalars(
            sa.select(OrderLine).where(OrderLine.order_pk == order_pk).order_by(OrderLine.line_no)
        )
    )


def as_domain_lines(rows: Sequence[OrderLine]) -> list[Line]:
    return [Line(sku=r.sku, quantity=r.quantity, item_id=r.item_id) for r in rows]


def replace_lines(session: Session, order_pk: int, event: OrderEvent, *, had_lines: bool) -> None:
    if had_lines:
        session.execute(sa.delete(OrderLine).where(OrderLine.order_pk == order_pk))
    if not event.lines:
        return
    rows = []
    for number, (line, detail) in enumerate(zip(event.lines, event.line_details, strict=True)):
        rows.append(
            {
                "order_pk": order_pk,
                "line_no": number + 1,
                "item_id": line.item_id,
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "quantity_allocated": 0,
                "weight": detail.get("weight"),
                "value": detail.get("value"),
            }
        )
    session.connection().execute(sa.insert(table_of(OrderLine)), rows)


def add_timeline(session: Session, order_pk: int, entries: Sequence[dict[str, Any]]) -> None:
    if entries:
        session.connection().execute(
            sa.insert(table_of(TimelineEntry)), [{"order_pk": order_pk, **e} for e in entries]
        )


def timeline_of(session: Session, order_pk: int) -> list[TimelineEntry]:
    return list(
        session.scalars(
            sa.select(TimelineEntry)
            .where(TimelineEntry.order_pk == order_pk)
            .order_by(TimelineEntry.id)
        )
    )


def orders_query(
    account_id: str, statuses: Sequence[str] | None, allocation_statuses: Sequence[str] | None
) -> sa.Select:
    stmt = sa.select(Order).where(Order.account_id == account_id)
    if statuses:
        stmt = stmt.where(Order.status.in_(statuses))
    if allocation_statuses:
        stmt = stmt.where(Order.allocation_status.in_(allocation_statuses))
    return stmt.order_by(Order.order_date.asc().nulls_last(), Order.id)
