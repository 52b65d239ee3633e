"""The only code that reads and writes the order mirror's tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Json
from sqlalchemy.orm import Session

from app.db import (
    adopt,
    dialect_insert,
    pg_compiled,
    pg_driver,
    pg_execute,
    pg_json,
    prepared,
    table_of,
)
from app.ledger import repository as ledger_repo
from app.ledger.domain import NewMovement
from app.orders.domain import AllocationStatus, Line, OrderEvent, OrderStatus
from app.orders.models import Order, OrderLine, TimelineEntry
from app.timeutil import utcnow

ORDER_COLUMNS = tuple(c.name for c in table_of(Order).c)
# What apply_order_event may change; written back by save_order.
_ORDER_MUTABLE = tuple(
    name for name in ORDER_COLUMNS if name not in ("id", "account_id", "order_id", "created_at")
)
_ORDER_JSON = frozenset(("destination", "packages"))
_LOCKED = "orders.locked"  # session.info key: pks of orders lock_order read by the driver


def pg_lock_order_sql(gate: str = "", first: str = "") -> str:
    """lock_order's upsert as PostgreSQL text (parameters account_id, order_id, now),
    returning the order's columns after `first` (extra leading columns, if any).

    `gate` is a FROM clause whose rows gate the upsert: webhook ingest names the CTE that
    stores its event, so a new event stores and locks in one statement and a duplicate
    touches no order (see app.webhooks.inbox.store_event_and_lock_order).
    """
    returning = ", ".join((first, *ORDER_COLUMNS) if first else ORDER_COLUMNS)
    return (
        "INSERT INTO orders"
        " (account_id, order_id, status, allocation_status, created_at, updated_at)"
        f" SELECT %(account_id)s, %(order_id)s, 'PENDING', 'UNALLOCATED', %(now)s, %(now)s {gate}"
        " ON CONFLICT (account_id, order_id) DO UPDATE SET updated_at = excluded.updated_at"
        f" RETURNING {returning}"
    )  # noqa: S608 - column names from the model; values are bound parameters


_LINES_FROM_JSON = (
    " SELECT %(order_pk)s::bigint, line_no, item_id, sku, description, quantity, 0, weight, value"
    " FROM ROWS FROM (json_to_recordset(%(lines)s::json) AS (item_id bigint, sku text,"
    " description text, quantity int, weight float8, value numeric))"
    " WITH ORDINALITY AS l(item_id, sku, description, quantity, weight, value, line_no)"
)
_INSERT_LINES = (
    "INSERT INTO order_lines"
    " (order_pk, line_no, item_id, sku, description, quantity, quantity_allocated, weight, value)"
)
_SAVE_LINES = f"lines AS ({_INSERT_LINES}{_LINES_FROM_JSON.replace('%(order_pk)s', '%(id)s')})"
_INSERT_TIMELINE = "INSERT INTO order_timeline (order_pk, at, kind, facts, event_id)"
_UPDATE_ORDER = (
    f" UPDATE orders SET {', '.join(f'{name} = %({name})s' for name in _ORDER_MUTABLE)}"  # noqa: S608
    " WHERE id = %(id)s"
)
_PG_SAVE_ORDER = (
    f"WITH {_SAVE_LINES}, timeline AS ({_INSERT_TIMELINE}"  # noqa: S608
    " SELECT %(id)s::bigint, at, kind, facts, event_id FROM json_to_recordset(%(timeline)s::json)"
    f" AS t(at timestamptz, kind text, facts json, event_id text)){_UPDATE_ORDER}"
)  # column names from the model; values are bound parameters
# With the event's movements (ledger's pg_append_ctes before it): one timeline entry per
# movement inserted, first, in movement order, with the facts apply_order_event gives
# them (app.orders.domain.movement_facts).
_MOVEMENT_ENTRIES = (
    "SELECT 0 AS part, m.id AS seq, %(moved_at)s::timestamptz AS at, m.type AS kind,"
    " json_build_object('sku', m.sku, 'quantity', m.quantity, 'location', m.location,"
    " 'movement', m.id) AS facts, %(moved_event_id)s::text AS event_id FROM moved m"
)
_SAVE_WITH_MOVEMENTS = (
    f", {_SAVE_LINES}, timeline AS ({_INSERT_TIMELINE}"  # noqa: S608
    " SELECT %(id)s::bigint, at, kind, facts, event_id FROM ("
    f"{_MOVEMENT_ENTRIES} UNION ALL SELECT 1, n, at, kind, facts, event_id"
    " FROM ROWS FROM (json_to_recordset(%(timeline)s::json)"
    " AS (at timestamptz, kind text, facts json, event_id text))"
    " WITH ORDINALITY AS t(at, kind, facts, event_id, n)"
    f") AS entries ORDER BY part, seq){_UPDATE_ORDER}"
)


@dataclass(frozen=True)
class EventMovements:
    """Movements an event posts, for save_order to write with the order (PostgreSQL,
    when nothing must see them sooner), logged on the timeline at `at` by `event_id`."""

    movements: Sequence[NewMovement]
    at: datetime
    event_id: str


def saves_movements(session: Session, order: Order) -> bool:
    """Whether save_order can write movements with `order` (its one-statement path)."""
    return order.id in session.info.get(_LOCKED, ()) and pg_driver(session) is not None


def _lock_order_statement(dialect: str) -> Any:
    table = table_of(Order)
    now = sa.bindparam("now", type_=table.c.created_at.type)
    upsert = dialect_insert(dialect, table).values(
        account_id=sa.bindparam("account_id"),
        order_id=sa.bindparam("order_id"),
        status=OrderStatus.PENDING.value,
        allocation_status=AllocationStatus.UNALLOCATED,
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
    already serialises writers. Returns (order, created). (Webhook ingest on PostgreSQL
    locks the order in the statement that stores its event: store_event_and_lock_order.)
    """
    params = {"account_id": account_id, "order_id": order_id, "now": utcnow()}
    stmt = prepared(session, "orders.lock_order", _lock_order_statement)
    order = session.scalars(stmt, params, execution_options={"populate_existing": True}).one()
    return order, _is_new(order)


def _is_new(order: Order) -> bool:
    return order.content_at is None and order.deleted_at is None and order.shipped_at is None


def adopt_locked_order(session: Session, row: Any, *, attach: bool = True) -> tuple[Order, bool]:
    """The session's Order for a row pg_lock_order_sql returned (the order's columns by
    name), as if the ORM had loaded it (see app.db.adopt), or with attach=False a
    detached Order (for an event whose hooks load no order: save_order writes it).
    Returns (order, created) like lock_order."""
    values = [getattr(row, name) for name in ORDER_COLUMNS]
    order = adopt(session, Order, ORDER_COLUMNS, values, attach=attach)
    session.info.setdefault(_LOCKED, set()).add(order.id)
    return order, _is_new(order)


def save_order(
    session: Session,
    order: Order,
    timeline: Sequence[dict[str, Any]],
    *,
    new_lines: OrderEvent | None = None,
    movements: EventMovements | None = None,
) -> None:
    """Write the order row, its new timeline entries and (for an order that had none)
    the lines of `new_lines` (end of apply_order_event); with `movements` (only where
    saves_movements says so), append them to the ledger first, as the ledger's
    append_movements would, each inserted one logged before `timeline`.

    PostgreSQL: one statement through the driver for an order locked by lock_order, and
    the ORM is told the row is saved; otherwise the ORM flushes it.
    """
    order.updated_at = utcnow()
    locked = session.info.get(_LOCKED, set())
    if order.id not in locked or pg_driver(session) is None:
        assert movements is None, "movements are saved with the order only on PostgreSQL"
        if new_lines is not None:
            replace_lines(session, order.id, new_lines, had_lines=False)
        add_timeline(session, order.id, timeline)
        session.flush()
        return
    locked.discard(order.id)
    params: dict[str, Any] = {"id": order.id}
    for name in _ORDER_MUTABLE:
        value = getattr(order, name)
        params[name] = Json(value) if name in _ORDER_JSON and value is not None else value
    params["timeline"] = pg_json(timeline)
    params["lines"] = pg_json(_line_rows(new_lines) if new_lines is not None else [])
    if movements is None:
        pg_execute(session, _PG_SAVE_ORDER, params)
    else:
        ctes, ledger_params = ledger_repo.pg_append_ctes(session, movements.movements)
        params.update(ledger_params, moved_at=movements.at, moved_event_id=movements.event_id)
        pg_execute(session, f"WITH {ctes}{_SAVE_WITH_MOVEMENTS}", params)
    # The row is written: the instance leaves the session rather than be compared
    # column by column at the next flush (it stays readable, and a later load in this
    # transaction reads the saved row).
    if order in session:
        session.expunge(order)
    session.flush()  # anything else the event changed through the ORM


def _line_rows(event: OrderEvent) -> list[dict[str, Any]]:
    return [
        {
            "item_id": line.item_id,
            "sku": line.sku,
            "description": line.description,
            "quantity": line.quantity,
            "weight": detail.get("weight"),
            "value": detail.get("value"),
        }
        for line, detail in zip(event.lines, event.line_details, strict=True)
    ]


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
    return [
        Line(sku=r.sku, quantity=r.quantity, item_id=r.item_id, description=r.description)
        for r in rows
    ]


def replace_lines(session: Session, order_pk: int, event: OrderEvent, *, had_lines: bool) -> None:
    if had_lines:
        session.execute(sa.delete(OrderLine).where(OrderLine.order_pk == order_pk))
    if not event.lines:
        return
    rows = [
        {"order_pk": order_pk, "line_no": number, "quantity_allocated": 0, **row}
        for number, row in enumerate(_line_rows(event), start=1)
    ]
    session.connection().execute(sa.insert(table_of(OrderLine)), rows)


def add_timeline(session: Session, order_pk: int, entries: Sequence[dict[str, Any]]) -> None:
    """Entries as facts (`facts`) or as text (`detail`: what allocation and returns log)."""
    if entries:
        rows = [
            {
                "order_pk": order_pk,
                "at": e["at"],
                "kind": e["kind"],
                "detail": e.get("detail"),
                "facts": e.get("facts"),
                "event_id": e.get("event_id"),
            }
            for e in entries
        ]
        session.connection().execute(sa.insert(table_of(TimelineEntry)), rows)


def add_timeline_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Timeline entries of several orders (each row names its order_pk)."""
    if rows:
        session.connection().execute(sa.insert(table_of(TimelineEntry)), list(rows))


def set_allocation_states(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Orders' status and allocation_status as allocation decided them (rows of id,
    status, allocation_status, at; the status comes from domain.derive_status)."""
    if rows:
        session.connection().execute(_allocation_states_statement(), _state_params(rows))


def set_lines_allocated(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Lines' quantity_allocated (rows of line id and q)."""
    if rows:
        session.connection().execute(_lines_allocated_statement(), _line_params(rows))


def pg_write_allocation_rows(
    session: Session,
    orders: Sequence[dict[str, Any]],
    lines: Sequence[dict[str, Any]],
    timeline: Sequence[dict[str, Any]],
) -> None:
    """set_allocation_states, set_lines_allocated and add_timeline_rows for a bulk release
    on PostgreSQL: the same Core statements compiled once, run through the driver (per
    row, as SQLAlchemy's executemany, without its per-row parameter processing)."""
    if orders:
        pg_execute(session, _PG_ALLOCATION_STATES, _state_params(orders), many=True)
    if lines:
        pg_execute(session, _PG_LINES_ALLOCATED, _line_params(lines), many=True)
    if timeline:
        params = [{**_NO_EVENT, **row} for row in timeline]
        pg_execute(session, _PG_ALLOCATION_TIMELINE, params, many=True)


def _allocation_states_statement() -> Any:
    o = table_of(Order)
    return (
        o.update()
        .where(o.c.id == sa.bindparam("oid"))
        .values(
            status=sa.bindparam("status"),
            allocation_status=sa.bindparam("allocation_status"),
            updated_at=sa.bindparam("at"),
        )
    )


def _lines_allocated_statement() -> Any:
    ln = table_of(OrderLine)
    return (
        ln.update()
        .where(ln.c.id == sa.bindparam("lid"))
        .values(quantity_allocated=sa.bindparam("q"))
    )


def _state_params(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "oid": row["id"]} for row in rows]


def _line_params(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"lid": row["id"], "q": row["q"]} for row in rows]


_TIMELINE_KEYS = ("order_pk", "at", "kind", "detail", "event_id")
_NO_EVENT: dict[str, Any] = {"event_id": None}
_PG_ALLOCATION_STATES = str(pg_compiled(_allocation_states_statement()))
_PG_LINES_ALLOCATED = str(pg_compiled(_lines_allocated_statement()))
_PG_ALLOCATION_TIMELINE = str(
    pg_compiled(
        sa.insert(table_of(TimelineEntry))
        .inline()
        .values({key: sa.bindparam(key) for key in _TIMELINE_KEYS})
    )
)


def clear_lines_allocated(session: Session, order_pk: int) -> None:
    """No units of the order's lines are allocated any more."""
    session.execute(
        sa.update(OrderLine)
        .where(OrderLine.order_pk == order_pk, OrderLine.quantity_allocated != 0)
        .values(quantity_allocated=0)
        .execution_options(synchronize_session="fetch")
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
    account_id: str,
    statuses: Sequence[str] | None,
    allocation_statuses: Sequence[str] | None,
    *,
    unmapped: bool | None = None,
) -> sa.Select:
    """Orders of an account; `unmapped` True: only those with a non-stock line (no SKU),
    False: only those without."""
    stmt = sa.select(Order).where(Order.account_id == account_id)
    if unmapped is not None:
        nonstock = sa.exists().where(OrderLine.order_pk == Order.id, OrderLine.sku.is_(None))
        stmt = stmt.where(nonstock if unmapped else ~nonstock)
    if statuses:
        stmt = stmt.where(Order.status.in_(statuses))
    if allocation_statuses:
        stmt = stmt.where(Order.allocation_status.in_(allocation_statuses))
    return stmt.order_by(Order.order_date.asc().nulls_last(), Order.id)
