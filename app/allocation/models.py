"""Allocation tables: reservations of stock for orders, release batches, auto rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.timeutil import utcnow


class Release(Base):
    """One release request (a batch of orders released together; pick lists group by it)."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(100))
    actor: Mapped[str] = mapped_column(sa.String(100))
    allow_partial: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    requested: Mapped[int] = mapped_column(sa.Integer, default=0)
    released: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Allocation(Base):
    """Units of `sku` reserved at (location, batch) for one order line SKU.

    `quantity` is what was reserved; `remaining` is still reserved (live), `consumed`
    left with a shipment, the rest was cancelled. Rows are kept for audit, with the
    strategy that chose the place and its plan. Σ remaining per (sku, location, batch)
    equals stock_balances.allocated.
    """

    __tablename__ = "allocations"
    __table_args__ = (
        sa.Index("ix_allocations_order_pk", "order_pk"),
        sa.Index("ix_allocations_balance", "sku", "location", "batch"),
        sa.Index("ix_allocations_release_id", "release_id"),
        sa.CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        sa.CheckConstraint("consumed >= 0", name="consumed_not_negative"),
        sa.CheckConstraint("remaining + consumed <= quantity", name="within_quantity"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_pk: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    release_id: Mapped[int | None] = mapped_column(sa.ForeignKey("releases.id"))
    # The order line's SKU (a bundle for exploding bundles) and the stock SKU reserved.
    line_sku: Mapped[str] = mapped_column(sa.String(50))
    sku: Mapped[str] = mapped_column(sa.String(50))
    per_unit: Mapped[int] = mapped_column(sa.Integer, default=1)
    location: Mapped[str] = mapped_column(sa.String(50))
    batch: Mapped[str] = mapped_column(sa.String(100), default="")
    quantity: Mapped[int] = mapped_column(sa.Integer)
    remaining: Mapped[int] = mapped_column(sa.Integer)
    consumed: Mapped[int] = mapped_column(sa.Integer, default=0)
    strategy: Mapped[str] = mapped_column(sa.String(20))
    plan: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str | None] = mapped_column(sa.String(200))


class AllocationRule(Base):
    """An auto-allocation rule (STOCKMIRROR_ALLOCATION=auto). Empty criteria match all."""

    __tablename__ = "allocation_rules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    account_id: Mapped[str | None] = mapped_column(sa.String(100))
    platform: Mapped[str | None] = mapped_column(sa.String(100))
    country: Mapped[str | None] = mapped_column(sa.String(100))
    allow_partial: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
