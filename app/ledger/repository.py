"""The only code that reads and writes ledger tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.db import insert_for
from app.ledger.domain import NewMovement, net_by_balance
from app.ledger.models import Location, Product, StockBalance, StockMovement
from app.timeutil import utcnow

_MOVEMENT_COLUMNS = (
    "key",
    "sku",
    "quantity",
    "type",
    "location",
    "actor",
    "batch",
    "reference",
    "reason",
    "account_id",
    "order_id",
    "event_id",
    "request_sha256",
    "bundle_sku",
)


def ensure_products(session: Session, skus: Iterable[str]) -> None:
    unique = sorted(set(skus))
    if not unique:
        return
    now = utcnow()
    stmt = insert_for(session, Product).values([{"sku": s, "created_at": now} for s in unique])
    session.execute(stmt.on_conflict_do_nothing(index_elements=["sku"]))


def location_exists(session: Session, code: str) -> bool:
    return session.get(Location, code) is not None


def insert_movements(session: Session, movements: Sequence[NewMovement]) -> list[sa.Row[Any]]:
    """Insert movements whose key is new; return the rows actually inserted.

    The unique key makes a replay or a race a no-op instead of a double count.
    """
    if not movements:
        return []
    now = utcnow()
    rows = []
    for m in movements:
        data = asdict(m)
        row = {col: data[col] for col in _MOVEMENT_COLUMNS}
        row["created_at"] = now
        rows.append(row)
    stmt = (
        insert_for(session, StockMovement)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(*StockMovement.__table__.c)
    )
    return list(session.execute(stmt))


def apply_to_balances(
    session: Session, movements: Sequence[NewMovement]
) -> dict[tuple[str, str, str], int]:
    """Add movements to their balance rows (locked in key order); return new on_hand."""
    net = net_by_balance(movements)
    if not net:
        return {}
    now = utcnow()
    table = StockBalance.__table__
    stmt = insert_for(session, StockBalance).values(
        [
            {"sku": s, "location": loc, "batch": b, "on_hand": q, "allocated": 0, "updated_at": now}
            for (s, loc, b), q in net.items()
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["sku", "location", "batch"],
        set_={"on_hand": table.c.on_hand + stmt.excluded.on_hand, "updated_at": now},
    ).returning(table.c.sku, table.c.location, table.c.batch, table.c.on_hand)
    return {(r.sku, r.location, r.batch): r.on_hand for r in session.execute(stmt)}


def shipped_by_sku(session: Session, account_id: str, order_id: int) -> dict[str, int]:
    """Units the ledger has shipped per SKU for one order (shipments minus reversals)."""
    stmt = (
        sa.select(StockMovement.sku, sa.func.sum(StockMovement.quantity))
        .where(
            StockMovement.account_id == account_id,
            StockMovement.order_id == order_id,
            StockMovement.type.in_(("shipment", "shipment_reversal")),
        )
        .group_by(StockMovement.sku)
    )
    return {sku: -int(total) for sku, total in session.execute(stmt) if total}


def movement_by_key(session: Session, key: str) -> StockMovement | None:
    return session.scalars(sa.select(StockMovement).where(StockMovement.key == key)).first()


def balances_for(session: Session, skus: Sequence[str]) -> list[StockBalance]:
    stmt = (
        sa.select(StockBalance)
        .where(StockBalance.sku.in_(skus))
        .order_by(StockBalance.sku, StockBalance.location, StockBalance.batch)
    )
    return list(session.scalars(stmt))


def stock_totals_query(sku: str | None = None, negative_only: bool = False) -> sa.Select:
    stmt = (
        sa.select(
            Product.sku,
            sa.func.coalesce(sa.func.sum(StockBalance.on_hand), 0).label("on_hand"),
            sa.func.coalesce(sa.func.sum(StockBalance.allocated), 0).label("allocated"),
        )
        .outerjoin(StockBalance, StockBalance.sku == Product.sku)
        .group_by(Product.sku)
    )
    if sku:
        stmt = stmt.where(Product.sku == sku)
    if negative_only:
        stmt = stmt.having(sa.func.coalesce(sa.func.sum(StockBalance.on_hand), 0) < 0)
    return stmt


def product_exists(session: Session, sku: str) -> bool:
    return session.get(Product, sku) is not None


def movements_query(
    *, sku: str | None, order_id: int | None, types: Sequence[str], account_id: str | None
) -> sa.Select:
    stmt = sa.select(StockMovement)
    if sku:
        stmt = stmt.where(StockMovement.sku == sku)
    if order_id is not None:
        stmt = stmt.where(StockMovement.order_id == order_id)
    if types:
        stmt = stmt.where(StockMovement.type.in_(types))
    if account_id:
        stmt = stmt.where(StockMovement.account_id == account_id)
    return stmt.order_by(StockMovement.id.desc())
