"""The only code that reads and writes allocation tables (and the balances' allocated)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.allocation.domain import ALLOCATED
from app.allocation.models import Allocation, AllocationRule, Release
from app.db import (
    adopt,
    byte_order,
    pg_compiled,
    pg_execute,
    pg_json,
    pg_rows,
    prepared,
    table_of,
    wired,
)
from app.ledger.models import Batch, BundleComponent, Location, Product, StockBalance
from app.ledger.strategies import NON_SELLABLE
from app.orders import repository as orders_repo
from app.orders.models import Order, OrderLine
from app.orders.repository import ORDER_COLUMNS
from app.timeutil import utcnow

BalanceKey = tuple[str, str, str]


class OversellRefused(RuntimeError):
    """The guarded UPDATE refused to allocate more than on hand (a bug, never a state)."""


def lock_orders(session: Session, order_pks: Sequence[int]) -> list[Order]:
    """Orders locked in primary-key order (PostgreSQL row locks; SQLite is serialised)."""
    if not order_pks:
        return []
    stmt = (
        sa.select(Order)
        .where(Order.id.in_(sorted(set(order_pks))))
        .order_by(Order.id)
        .with_for_update()
    )
    return list(session.scalars(stmt, execution_options={"populate_existing": True}))


ProductInfo = dict[str, tuple[str | None, str]]  # sku → (strategy, bundle kind)


def lines_for(session: Session, order_pks: Sequence[int]) -> dict[int, list[OrderLine]]:
    return lines_with_products(session, order_pks)[0]


def sku_of(line: OrderLine) -> str:
    """The SKU of a line allocation reads (only stock lines: see lines_with_products)."""
    assert line.sku is not None, "allocation reads stock lines only"
    return line.sku


def lines_with_products(
    session: Session, order_pks: Sequence[int]
) -> tuple[dict[int, list[OrderLine]], ProductInfo]:
    """The orders' stock lines (line order) and their products' strategy and bundle kind.
    Non-stock lines (no SKU) are never allocated, so allocation never sees them."""
    out: dict[int, list[OrderLine]] = {pk: [] for pk in order_pks}
    info: ProductInfo = {}
    if not order_pks:
        return out, info
    stmt = (
        sa.select(OrderLine, Product.strategy, Product.bundle)
        .outerjoin(Product, Product.sku == OrderLine.sku)
        .where(OrderLine.order_pk.in_(order_pks), OrderLine.sku.is_not(None))
        .order_by(OrderLine.order_pk, OrderLine.line_no)
        .execution_options(populate_existing=True)
    )
    for line, strategy, bundle in session.execute(stmt):
        out[line.order_pk].append(line)
        info[sku_of(line)] = (strategy, bundle or "none")
    return out, info


def lock_order_with_lines(
    session: Session, account_id: str, order_id: int
) -> tuple[Order | None, list[OrderLine], ProductInfo]:
    """Lock the order row, then read its lines with their products (the single-order
    release; see AllocationStore.lock_order_with_lines)."""
    return allocation_store(session).lock_order_with_lines(session, account_id, order_id)


@dataclass(frozen=True)
class Catalogue:
    strategies: dict[str, str | None]
    components: dict[str, list[tuple[str, int]]]  # exploding bundles only


def catalogue_for(session: Session, skus: Iterable[str]) -> Catalogue:
    unique = sorted(set(skus))
    info: ProductInfo = {}
    if unique:
        stmt = sa.select(Product.sku, Product.strategy, Product.bundle).where(
            Product.sku.in_(unique)
        )
        info = {sku: (strategy, bundle) for sku, strategy, bundle in session.execute(stmt)}
    return catalogue_from(session, info)


def catalogue_from(session: Session, info: ProductInfo) -> Catalogue:
    """Strategies and exploding-bundle components; queries only when bundles are involved."""
    strategies: dict[str, str | None] = {sku: strategy for sku, (strategy, _) in info.items()}
    bundles = sorted(sku for sku, (_, bundle) in info.items() if bundle == "exploding")
    components: dict[str, list[tuple[str, int]]] = {}
    if bundles:
        stmt = (
            sa.select(
                BundleComponent.bundle_sku,
                BundleComponent.component_sku,
                BundleComponent.quantity,
                Product.strategy,
            )
            .join(Product, Product.sku == BundleComponent.component_sku)
            .where(BundleComponent.bundle_sku.in_(bundles))
            .order_by(BundleComponent.bundle_sku, BundleComponent.component_sku)
        )
        for bundle_sku, component, qty, strategy in session.execute(stmt):
            components.setdefault(bundle_sku, []).append((component, qty))
            strategies.setdefault(component, strategy)
    return Catalogue(strategies, components)


@dataclass(frozen=True)
class BalanceRow:
    id: int
    sku: str
    location: str
    batch: str
    on_hand: int
    allocated: int
    kind: str
    sequence: int
    received_at: datetime | None
    expiry: date | None


def lock_balances(session: Session, skus: Iterable[str]) -> list[BalanceRow]:
    """Sellable balance rows of these SKUs, row-locked in (sku, location, batch) order.

    A fixed lock order means concurrent releases queue instead of deadlocking.
    """
    unique = sorted(set(skus))
    if not unique:
        return []
    return allocation_store(session).lock_balances(session, unique)


def lock_balance_keys(session: Session, keys: Iterable[BalanceKey]) -> dict[BalanceKey, int]:
    """Lock these balance rows in key order; return their ids."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    sb = StockBalance
    stmt = (
        sa.select(sb.id, sb.sku, sb.location, sb.batch)
        .where(sa.tuple_(sb.sku, sb.location, sb.batch).in_(ordered))
        .order_by(byte_order(sb.sku), sb.location, sb.batch)
        .with_for_update()
    )
    return {(r.sku, r.location, r.batch): r.id for r in session.execute(stmt)}


def change_allocated(session: Session, deltas: Mapping[int, int]) -> None:
    """Add `delta` to allocated per balance id. An increase must fit under on_hand: the
    guarded UPDATE makes the database itself refuse oversell."""
    rows = guard_rows(deltas, utcnow())
    if rows:
        refuse_oversell(rows, allocation_store(session).change_allocated_rows(session, rows))


def guard_rows(deltas: Mapping[int, int], now: datetime) -> list[dict[str, Any]]:
    """The guarded update's parameter sets: one per balance whose allocated changes."""
    return [{"bid": bid, "d": d, "at": now} for bid, d in sorted(deltas.items()) if d]


def refuse_oversell(rows: Sequence[Any], changed: int) -> None:
    """The database refused a guarded change (it would oversell): the release fails."""
    if changed != len(rows):
        raise OversellRefused(f"guarded update refused {len(rows) - changed} balance change(s)")


def _change_allocated_statement(dialect: str) -> Any:
    sb = table_of(StockBalance)
    return (
        sb.update()
        .where(
            sb.c.id == sa.bindparam("bid"),
            sa.or_(
                sa.bindparam("d") <= 0,
                sb.c.allocated + sa.bindparam("d") <= sb.c.on_hand,
            ),
            sb.c.allocated + sa.bindparam("d") >= 0,
        )
        .values(allocated=sb.c.allocated + sa.bindparam("d"), updated_at=sa.bindparam("at"))
    )


def insert_allocations(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(Allocation), list(rows))


def live_allocations(session: Session, order_pks: Sequence[int]) -> list[Allocation]:
    if not order_pks:
        return []
    stmt = (
        sa.select(Allocation)
        .where(Allocation.order_pk.in_(order_pks), Allocation.remaining > 0)
        .order_by(Allocation.order_pk, Allocation.sku, Allocation.location, Allocation.batch)
    )
    return list(session.scalars(stmt))


def live_units(session: Session, order_pk: int) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(Allocation.remaining), 0)).where(
        Allocation.order_pk == order_pk, Allocation.remaining > 0
    )
    return int(session.scalar(stmt) or 0)


def allocations_of(session: Session, order_pk: int) -> list[Allocation]:
    return list(
        session.scalars(
            sa.select(Allocation).where(Allocation.order_pk == order_pk).order_by(Allocation.id)
        )
    )


def overallocated_balances(session: Session, keys: Iterable[BalanceKey]) -> dict[BalanceKey, int]:
    """Of these balances, those with allocated > on_hand → the excess."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    sb = StockBalance
    stmt = sa.select(sb.sku, sb.location, sb.batch, sb.allocated - sb.on_hand).where(
        sa.tuple_(sb.sku, sb.location, sb.batch).in_(ordered), sb.allocated > sb.on_hand
    )
    return {(s, loc, b): int(excess) for s, loc, b, excess in session.execute(stmt)}


def live_at_balances(
    session: Session, keys: Iterable[BalanceKey]
) -> dict[BalanceKey, list[tuple[int, int, str]]]:
    """Live allocations at these balances: key → [(order_pk, units, allocation_status)],
    newest order first."""
    ordered = sorted(set(keys))
    out: dict[BalanceKey, list[tuple[int, int, str]]] = {k: [] for k in ordered}
    if not ordered:
        return out
    a = Allocation
    stmt = (
        sa.select(a.sku, a.location, a.batch, a.order_pk, a.remaining, Order.allocation_status)
        .join(Order, Order.id == a.order_pk)
        .where(sa.tuple_(a.sku, a.location, a.batch).in_(ordered), a.remaining > 0)
        .order_by(Order.order_date.desc().nulls_first(), Order.id.desc(), a.id)
    )
    for sku, loc, batch, pk, units, status in session.execute(stmt):
        out[(sku, loc, batch)].append((pk, units, status))
    return out


def orders_by_pk(session: Session, pks: Sequence[int]) -> list[Order]:
    if not pks:
        return []
    return list(session.scalars(sa.select(Order).where(Order.id.in_(pks)).order_by(Order.id)))


def new_release(session: Session, *, account_id: str, actor: str, allow_partial: bool) -> int:
    release = Release(
        account_id=account_id, actor=actor, allow_partial=allow_partial, created_at=utcnow()
    )
    session.add(release)
    session.flush()
    return release.id


def finish_release(session: Session, release_id: int, requested: int, released: int) -> None:
    session.execute(
        sa.update(Release)
        .where(Release.id == release_id)
        .values(requested=requested, released=released)
    )


def get_release(session: Session, release_id: int) -> Release | None:
    return session.get(Release, release_id)


@dataclass(frozen=True)
class PickRow:
    order_id: int
    order_number: str | None
    line_sku: str
    sku: str
    location: str
    sequence: int
    batch: str
    quantity: int
    tracking: str | None


def pick_rows(
    session: Session, *, order_pk: int | None = None, release_id: int | None = None
) -> list[PickRow]:
    """Live allocations to pick, sorted by location (sequence, code), SKU, batch."""
    a = Allocation
    seq = sa.func.coalesce(Location.sequence, 0)
    stmt = (
        sa.select(
            Order.order_id,
            Order.order_number,
            a.line_sku,
            a.sku,
            a.location,
            seq,
            a.batch,
            a.remaining,
            Product.tracking,
        )
        .join(Order, Order.id == a.order_pk)
        .outerjoin(Location, Location.code == a.location)
        .outerjoin(Product, Product.sku == a.sku)
        .where(a.remaining > 0)
        .order_by(seq, a.location, a.sku, a.batch, Order.order_date, Order.id)
    )
    if order_pk is not None:
        stmt = stmt.where(a.order_pk == order_pk)
    if release_id is not None:
        stmt = stmt.where(a.release_id == release_id)
    return [PickRow(*row) for row in session.execute(stmt)]


def rules(session: Session) -> list[AllocationRule]:
    return list(session.scalars(sa.select(AllocationRule).order_by(AllocationRule.id)))


def add_rule(session: Session, values: Mapping[str, Any]) -> AllocationRule:
    rule = AllocationRule(**values, created_at=utcnow())
    session.add(rule)
    session.flush()
    return rule


def delete_rule(session: Session, rule_id: int) -> bool:
    result = session.execute(sa.delete(AllocationRule).where(AllocationRule.id == rule_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def resolve_order_ids(
    session: Session, account_id: str, order_ids: Sequence[int]
) -> list[tuple[int, int]]:
    """(order_pk, order_id) of the known orders, oldest order_date first."""
    if not order_ids:
        return []
    stmt = (
        sa.select(Order.id, Order.order_id)
        .where(Order.account_id == account_id, Order.order_id.in_(set(order_ids)))
        .order_by(Order.order_date.asc().nulls_last(), Order.id)
    )
    return [(pk, oid) for pk, oid in session.execute(stmt)]


def demand_subquery() -> Any:
    """Stock demand per (order_pk, stock SKU): exploding bundles become components."""
    ol = OrderLine
    comp = BundleComponent
    stock_sku = sa.func.coalesce(comp.component_sku, ol.sku)
    return (
        sa.select(
            ol.order_pk.label("order_pk"),
            stock_sku.label("sku"),
            sa.func.sum(ol.quantity * sa.func.coalesce(comp.quantity, 1)).label("qty"),
        )
        .outerjoin(Product, Product.sku == ol.sku)
        .outerjoin(comp, sa.and_(comp.bundle_sku == ol.sku, Product.bundle == "exploding"))
        .where(ol.sku.is_not(None))  # non-stock lines create no demand
        .group_by(ol.order_pk, stock_sku)
        .subquery("demand")
    )


def available_subquery() -> Any:
    sb = StockBalance
    return (
        sa.select(sb.sku.label("sku"), sa.func.sum(sb.on_hand - sb.allocated).label("available"))
        .join(Location, Location.code == sb.location)
        .where(Location.kind != NON_SELLABLE, sb.on_hand > sb.allocated)  # see sellable()
        .group_by(sb.sku)
        .subquery("avail")
    )


def own_subquery() -> Any:
    a = Allocation
    return (
        sa.select(
            a.order_pk.label("order_pk"), a.sku.label("sku"), sa.func.sum(a.remaining).label("own")
        )
        .where(a.remaining > 0)
        .group_by(a.order_pk, a.sku)
        .subquery("own")
    )


def short_rows_query(order_pks: Sequence[int] | None = None) -> sa.Select:
    """(order_pk, sku, needed, available) for every stock SKU an order cannot get now.

    `available` counts what is free plus what the order itself already holds.
    """
    d, av, own = demand_subquery(), available_subquery(), own_subquery()
    free = sa.func.coalesce(av.c.available, 0) + sa.func.coalesce(own.c.own, 0)
    stmt = (
        sa.select(d.c.order_pk, d.c.sku, d.c.qty, free.label("available"))
        .outerjoin(av, av.c.sku == d.c.sku)
        .outerjoin(own, sa.and_(own.c.order_pk == d.c.order_pk, own.c.sku == d.c.sku))
        .where(d.c.qty > free)
    )
    if order_pks is not None:
        stmt = stmt.where(d.c.order_pk.in_(order_pks))
    return stmt


def shortages_for(
    session: Session, order_pks: Sequence[int]
) -> dict[int, list[tuple[str, int, int]]]:
    out: dict[int, list[tuple[str, int, int]]] = {}
    if not order_pks:
        return out
    stmt = short_rows_query(order_pks).order_by(sa.text("1"), sa.text("2"))
    for pk, sku, qty, available in session.execute(stmt):
        out.setdefault(pk, []).append((sku, int(qty), int(available)))
    return out


ALLOCATABLE_STATUSES = ("PENDING", "RELEASED")


def allocatable_candidate_clause() -> sa.ColumnElement[bool]:
    """Orders that may be allocatable: open, not fully allocated, with demand."""
    has_lines = sa.exists().where(
        OrderLine.order_pk == Order.id, OrderLine.quantity > 0, OrderLine.sku.is_not(None)
    )
    return sa.and_(
        Order.status.in_(ALLOCATABLE_STATUSES), Order.allocation_status != ALLOCATED, has_lines
    )


def allocatable_clause(allocatable: bool) -> sa.ColumnElement[bool]:
    """Orders that could be fully allocated now (all SKUs available), or not."""
    short = short_rows_query().subquery("short")
    no_short = ~sa.exists().where(short.c.order_pk == Order.id)
    clause = sa.and_(allocatable_candidate_clause(), no_short)
    return clause if allocatable else sa.not_(clause)


def allocatable_among(session: Session, candidate_pks: Sequence[int]) -> set[int]:
    """Which of these candidate orders (see allocatable_candidate_clause) could be fully
    allocated now: the same rule as allocatable_clause, checked for a batch of orders
    (their demand only), so a page need not work out every order's shortages."""
    short = shortages_for(session, candidate_pks)
    return {pk for pk in candidate_pks if pk not in short}


def lock_order(session: Session, account_id: str, order_id: int) -> Order | None:
    stmt = (
        sa.select(Order)
        .where(Order.account_id == account_id, Order.order_id == order_id)
        .with_for_update()
    )
    return session.scalars(stmt, execution_options={"populate_existing": True}).first()


def filtered_order_pks(
    session: Session,
    account_id: str,
    *,
    statuses: Sequence[str],
    allocation_statuses: Sequence[str],
    allocatable: bool | None,
    platform: str | None,
    limit: int,
) -> list[int]:
    stmt = sa.select(Order.id).where(Order.account_id == account_id)
    if statuses:
        stmt = stmt.where(Order.status.in_(statuses))
    if allocation_statuses:
        stmt = stmt.where(Order.allocation_status.in_(allocation_statuses))
    if platform:
        stmt = stmt.where(Order.platform == platform)
    if allocatable is not None:
        stmt = stmt.where(allocatable_clause(allocatable))
    stmt = stmt.order_by(Order.order_date.asc().nulls_last(), Order.id).limit(limit)
    return list(session.scalars(stmt))


def mark_written(obj: Any, **values: Any) -> None:
    """Set ORM attributes to values already written with a bulk statement (not dirty)."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def write_release(
    session: Session,
    *,
    allocations: Sequence[dict[str, Any]],
    deltas: Mapping[int, int],
    orders: Sequence[dict[str, Any]],
    lines: Sequence[dict[str, Any]],
    timeline: Sequence[dict[str, Any]],
) -> None:
    """Write one release: balances' allocated (the guarded update), then new allocations,
    the orders' states, lines and timeline."""
    allocation_store(session).write_release(
        session, deltas, allocations=allocations, orders=orders, lines=lines, timeline=timeline
    )


STORE_KEY = "allocation.store"  # session.info key the session factory fills in


class AllocationStore:
    """The single-order release's order read, every release's balance lock and the
    release's writes after the guarded balance update: SQLAlchemy Core, the same
    statements on both databases. One store per database, chosen once from its kind by
    `store_for` (app/wiring.py puts it in every session's info)."""

    def lock_order_with_lines(
        self, session: Session, account_id: str, order_id: int
    ) -> tuple[Order | None, list[OrderLine], ProductInfo]:
        """Two statements on purpose: in a single `SELECT … JOIN … FOR UPDATE OF orders`,
        PostgreSQL re-reads only the locked row after waiting for the lock, and the joined
        lines would come from the statement's older snapshot."""
        order = lock_order(session, account_id, order_id)
        if order is None:
            return None, [], {}
        lines, info = lines_with_products(session, [order.id])
        return order, lines[order.id], info

    def write_release(
        self, session: Session, deltas: Mapping[int, int], **parts: Sequence[dict[str, Any]]
    ) -> None:
        """The guarded update (`change_allocated`), then the release's rows."""
        change_allocated(session, deltas)
        self.write_release_rows(session, **parts)

    def change_allocated_rows(self, session: Session, rows: Sequence[dict[str, Any]]) -> int:
        """The guarded update (`_change_allocated_statement`) per row; rows changed."""
        stmt = prepared(session, "allocation.change_allocated", _change_allocated_statement)
        return int(session.connection().execute(stmt, list(rows)).rowcount)

    def lock_balances(self, session: Session, skus: Sequence[str]) -> list[BalanceRow]:
        """`skus` sorted and unique (see lock_balances)."""
        sb = StockBalance
        stmt = (
            sa.select(
                sb.id,
                sb.sku,
                sb.location,
                sb.batch,
                sb.on_hand,
                sb.allocated,
                Location.kind,
                Location.sequence,
                Batch.received_at,
                Batch.expiry,
            )
            .join(Location, Location.code == sb.location)
            .outerjoin(Batch, sa.and_(Batch.sku == sb.sku, Batch.code == sb.batch))
            # The ledger's `sellable` rule (app/ledger/strategies.py), filtered here in SQL
            # for speed; the plan's `order_places` applies the same rule again.
            .where(sb.sku.in_(skus), Location.kind != NON_SELLABLE)
            .order_by(byte_order(sb.sku), sb.location, sb.batch)
            .with_for_update(of=sb)
        )
        return [BalanceRow(**row._asdict()) for row in session.execute(stmt)]

    def write_release_rows(
        self,
        session: Session,
        *,
        allocations: Sequence[dict[str, Any]],
        orders: Sequence[dict[str, Any]],
        lines: Sequence[dict[str, Any]],
        timeline: Sequence[dict[str, Any]],
    ) -> None:
        """New allocations, and through the orders' repository the orders' states, lines
        and timeline: one Core statement per table (executemany)."""
        insert_allocations(session, allocations)
        orders_repo.set_allocation_states(session, orders)
        orders_repo.set_lines_allocated(session, lines)
        orders_repo.add_timeline_rows(session, timeline)


_LINE_COLUMNS = tuple(c.name for c in table_of(OrderLine).c)
_PG_LOCK_ORDER = (
    f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"  # noqa: S608
    " WHERE account_id = %(account_id)s AND order_id = %(order_id)s FOR UPDATE"
)  # column names from the model; values are bound parameters
_PG_ORDER_LINES = (
    f"SELECT {', '.join(f'l.{c}' for c in _LINE_COLUMNS)}, p.strategy, p.bundle"  # noqa: S608
    " FROM order_lines l"
    " LEFT JOIN LATERAL (SELECT strategy, bundle FROM products WHERE sku = l.sku LIMIT 1) p"
    " ON true WHERE l.order_pk = %(pk)s AND l.sku IS NOT NULL ORDER BY l.line_no"
)
# Balances locked SKU by SKU in the given (sorted, code point) order, each SKU's rows in
# (location, batch) order by its index: the global lock order, without a table scan.
# Non-sellable stock is left out by the ledger's `sellable` rule (the same NON_SELLABLE,
# a module constant: no input reaches this text).
_PG_LOCK_BALANCES = f"""
SELECT b.id, b.sku, b.location, b.batch, b.on_hand, b.allocated,
       b.kind, b.sequence, b.received_at, b.expiry
FROM json_array_elements_text(%(skus)s::json) WITH ORDINALITY AS wanted(sku, n)
CROSS JOIN LATERAL (
    SELECT sb.id, sb.sku, sb.location, sb.batch, sb.on_hand, sb.allocated,
           l.kind, l.sequence, t.received_at, t.expiry
    FROM stock_balances sb
    JOIN locations l ON l.code = sb.location
    LEFT JOIN batches t ON t.sku = sb.sku AND t.code = sb.batch
    WHERE sb.sku = wanted.sku AND l.kind <> '{NON_SELLABLE}'
    ORDER BY sb.location, sb.batch
    FOR UPDATE OF sb
) b
ORDER BY wanted.n, b.location, b.batch
"""  # noqa: S608
# The one guarded update, compiled for PostgreSQL (%(name)s parameters); the literals it
# compares with (0) are bound parameters of the compiled statement.
_GUARD_COMPILED = pg_compiled(_change_allocated_statement("postgresql"))
_PG_CHANGE_ALLOCATED = str(_GUARD_COMPILED)
_GUARD_BINDS = {k: v for k, v in _GUARD_COMPILED.params.items() if k not in ("bid", "d", "at")}
# ... and with positional parameters and RETURNING, one CTE per balance of a small release.
_GUARD_POSITIONAL = pg_compiled(
    _change_allocated_statement("postgresql").returning(table_of(StockBalance).c.id),
    positional=True,
)
_GUARD_ORDER = tuple(_GUARD_POSITIONAL.positiontup or ())
_ALLOCATION_COLUMNS: tuple[str, ...] = (
    *("order_pk", "release_id", "line_sku", "sku", "per_unit", "location", "batch"),
    *("quantity", "remaining", "consumed", "strategy", "plan", "actor", "created_at"),
)  # what _reserve (app/allocation/decisions.py) puts in an allocation row
_PG_INSERT_ALLOCATION = str(
    pg_compiled(
        sa.insert(table_of(Allocation))
        .inline()
        .values({c: sa.bindparam(c) for c in _ALLOCATION_COLUMNS})
    )
)
FEW = 8  # rows per table up to which a release's rows are written as one statement


class PostgresAllocationStore(AllocationStore):
    """PostgreSQL: the single-order release path as fixed SQL through the driver
    (`pg_rows`/`pg_execute`, which translate driver errors as session.execute does, so
    deadlock retries and the 503 see them). Profile of 1,000 in-process single releases
    (2026-11-30, cProfile, loaded 2-core VM): Core store 8 statements and 27.5 ms per
    release, of which lock_order_with_lines 7.9 ms, lock_balances 4.7 ms and the writes
    after the guard 7.4 ms; this store 5 statements and 6.2 ms (fe2c871's fixed SQL: 4,
    9.5 ms). HTTP single release, loaded VM, median of 9 runs of 1,000: 71/s, fe2c871 58/s
    (bench/RESULTS.md, 2026-12-01 00:08 UTC; Core only had halved it, 66 → 36/s).
    `tests/integration/test_ledger_stores_agree.py` holds it to the Core store's results.
    The guarded balance update stays the one Core `change_allocated`."""

    def lock_order_with_lines(
        self, session: Session, account_id: str, order_id: int
    ) -> tuple[Order | None, list[OrderLine], ProductInfo]:
        # Core: 7.9 ms per release (ORM load of order and lines); fixed SQL: 1.8 ms.
        params = {"account_id": account_id, "order_id": order_id}
        rows = pg_rows(session, _PG_LOCK_ORDER, params)
        if not rows:
            return None, [], {}
        order = adopt(session, Order, ORDER_COLUMNS, rows[0])
        lines: list[OrderLine] = []
        info: ProductInfo = {}
        for row in pg_rows(session, _PG_ORDER_LINES, {"pk": order.id}):
            line = adopt(session, OrderLine, _LINE_COLUMNS, row[: len(_LINE_COLUMNS)])
            lines.append(line)
            info[sku_of(line)] = (row.strategy, row.bundle or "none")
        return order, lines, info

    def write_release(
        self, session: Session, deltas: Mapping[int, int], **parts: Sequence[dict[str, Any]]
    ) -> None:
        # A small release (a single order's): the guarded update and the rows as one
        # statement, 1 round trip instead of 2 (−130 µs per single release, in-process,
        # 2026-12-01). Larger ones: the guarded update, then write_release_rows.
        now = utcnow()
        guards = guard_rows(deltas, now)
        rows = (parts["allocations"], parts["orders"], parts["lines"], parts["timeline"])
        if len(guards) > FEW or any(len(part) > FEW for part in rows):
            super().write_release(session, deltas, **parts)
        elif guards or any(rows):
            sql = _small_release_sql(len(guards), *(len(part) for part in rows))
            changed = pg_rows(session, sql, _small_release_params(now, guards, *rows))[0][0]
            refuse_oversell(guards, changed)

    def change_allocated_rows(self, session: Session, rows: Sequence[dict[str, Any]]) -> int:
        # The same Core statement, compiled once, through the driver: SQLAlchemy's execute
        # cost 165 µs per single release of 1,000 µs (cProfile, 4,000 releases, 2026-12-01).
        params = [{**_GUARD_BINDS, **row} for row in rows]
        return pg_execute(session, _PG_CHANGE_ALLOCATED, params, many=True)

    def lock_balances(self, session: Session, skus: Sequence[str]) -> list[BalanceRow]:
        # Core: 4.7 ms per release; this SQL (fe2c871's): 0.95 ms, index lookups per SKU.
        rows = pg_rows(session, _PG_LOCK_BALANCES, {"skus": pg_json(list(skus))})
        return [BalanceRow(*row) for row in rows]

    def write_release_rows(
        self,
        session: Session,
        *,
        allocations: Sequence[dict[str, Any]],
        orders: Sequence[dict[str, Any]],
        lines: Sequence[dict[str, Any]],
        timeline: Sequence[dict[str, Any]],
    ) -> None:
        # Rows without the guarded update (write_release sends a small release's rows with
        # it). More than FEW rows for a table (a bulk release): the allocations, the largest
        # part, through the driver as the Core insert compiled once (10,000 orders: 5.9 s
        # instead of 6.1–6.5 in-process, fe2c871 5.65; bench/RESULTS.md 2026-12-01), the
        # rest on Core.
        parts = (allocations, orders, lines, timeline)
        if any(len(part) > FEW for part in parts):
            if allocations:
                params = [{**a, "plan": json.dumps(a["plan"])} for a in allocations]
                pg_execute(session, _PG_INSERT_ALLOCATION, params, many=True)
            orders_repo.pg_write_allocation_rows(session, orders, lines, timeline)
        elif any(parts):
            sql = _small_release_sql(0, *(len(part) for part in parts))
            pg_execute(session, sql, _small_release_params(utcnow(), (), *parts))


@functools.lru_cache(maxsize=512)
def _small_release_sql(guards: int, allocations: int, orders: int, lines: int, notes: int) -> str:
    """A small release (every part at most FEW) as one statement: the guarded update per
    balance (the compiled Core statement), then each part's rows as VALUES lists, so the
    plan knows their number and updates by primary key. Answers the number of balances
    the guard let change. Parameters are positional, part by part, as
    _small_release_params lays them out."""

    def rows(n: int, row: str) -> str:
        return ", ".join([row] * n)

    ctes = [f"guarded{i} AS ({_GUARD_POSITIONAL})" for i in range(guards)]
    if allocations:
        ctes.append(
            "allocated AS (INSERT INTO allocations (order_pk, release_id, line_sku, sku,"  # noqa: S608 - placeholders only
            " per_unit, location, batch, quantity, remaining, consumed, strategy, plan, actor,"
            " created_at) VALUES "
            + rows(allocations, "(%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s::json, %s, %s)")
            + ")"
        )
    if orders:
        ctes.append(
            "ordered AS (UPDATE orders AS o"  # noqa: S608 - placeholders only
            " SET status = v.st, allocation_status = v.al, updated_at = v.at"
            f" FROM (VALUES {rows(orders, '(%s::bigint, %s, %s, %s::timestamptz)')})"
            " AS v(id, st, al, at) WHERE o.id = v.id)"
        )
    if lines:
        ctes.append(
            "lined AS (UPDATE order_lines AS l SET quantity_allocated = v.q"  # noqa: S608 - placeholders only
            f" FROM (VALUES {rows(lines, '(%s::bigint, %s::int)')}) AS v(id, q)"
            " WHERE l.id = v.id)"
        )
    if notes:
        ctes.append(
            "noted AS (INSERT INTO order_timeline (order_pk, at, kind, detail) VALUES "  # noqa: S608 - placeholders only
            + rows(notes, "(%s, %s, %s, %s)")
            + ")"
        )
    changed = " + ".join(f"(SELECT count(*) FROM guarded{i})" for i in range(guards))  # noqa: S608
    return "WITH " + ", ".join(ctes) + f" SELECT {changed or 0}"


def _small_release_params(
    now: datetime,
    guards: Sequence[Mapping[str, Any]],
    allocations: Sequence[Mapping[str, Any]],
    orders: Sequence[Mapping[str, Any]],
    lines: Sequence[Mapping[str, Any]],
    timeline: Sequence[Mapping[str, Any]],
) -> list[Any]:
    params: list[Any] = []
    for g in guards:
        values = {**_GUARD_BINDS, **g}
        params += (values[name] for name in _GUARD_ORDER)
    for a in allocations:
        params += (
            a["order_pk"],
            a["release_id"],
            a["line_sku"],
            a["sku"],
            a["per_unit"],
            a["location"],
            a["batch"],
            a["quantity"],
            a["quantity"],
            a["strategy"],
            json.dumps(a["plan"]),
            a["actor"],
            a["created_at"],
        )
    for o in orders:
        params += (o["id"], o["status"], o["allocation_status"], o.get("at", now))
    for line in lines:
        params += (line["id"], line["q"])
    for t in timeline:
        params += (t["order_pk"], t["at"], t["kind"], t["detail"])
    return params


CORE_STORE = AllocationStore()


def store_for(dialect: str) -> AllocationStore:
    """The allocation store for a database kind: the one place that looks at it."""
    return PostgresAllocationStore() if dialect == "postgresql" else CORE_STORE


def allocation_store(session: Session) -> AllocationStore:
    """The store wired into this session (the Core store if none was)."""
    return wired(session, STORE_KEY, CORE_STORE)
