"""The order mirror: orders keyed by (account_id, order_id), their lines and timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.orders.domain import AllocationStatus, OrderStatus
from app.timeutil import utcnow


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "order_id"),
        sa.Index("ix_orders_account_number", "account_id", "order_number"),
        sa.Index("ix_orders_account_status_date", "account_id", "status", "order_date"),
        # The console's order list: oldest first, keyset-paginated by (order_date, id).
        sa.Index("ix_orders_account_date_id", "account_id", "order_date", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(100))
    order_id: Mapped[int] = mapped_column(sa.BigInteger)
    order_number: Mapped[str | None] = mapped_column(sa.String(100))
    order_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20), default=OrderStatus.PENDING.value)
    allocation_status: Mapped[str] = mapped_column(
        sa.String(24), default=AllocationStatus.UNALLOCATED.value
    )
    starshipit_status: Mapped[str | None] = mapped_column(sa.String(50))
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    platform: Mapped[str | None] = mapped_column(sa.String(100))
    carrier: Mapped[str | None] = mapped_column(sa.String(100))
    carrier_name: Mapped[str | None] = mapped_column(sa.String(200))
    destination: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    packages: Mapped[list[Any] | None] = mapped_column(sa.JSON)
    # (occurred_at, event_id) of the newest event that carried lines, shipped, deleted.
    content_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_event_id: Mapped[str | None] = mapped_column(sa.String(200))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_event_id: Mapped[str | None] = mapped_column(sa.String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_event_id: Mapped[str | None] = mapped_column(sa.String(200))
    # Units of non-stock lines the newest applied order_shipped event says left.
    nonstock_shipped: Mapped[int] = mapped_column(
        sa.Integer, default=0, server_default=sa.text("0")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        sa.UniqueConstraint("order_pk", "line_no"),
        sa.Index("ix_order_lines_sku", "sku"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_pk: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(sa.Integer)
    item_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    sku: Mapped[str | None] = mapped_column(sa.String(50))  # None: a non-stock line
    description: Mapped[str | None] = mapped_column(sa.String(500))
    quantity: Mapped[int] = mapped_column(sa.Integer)
    quantity_allocated: Mapped[int] = mapped_column(sa.Integer, default=0)
    weight: Mapped[float | None] = mapped_column(sa.Float)
    value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 4))


class TimelineEntry(Base):
    __tablename__ = "order_timeline"
    __table_args__ = (sa.Index("ix_order_timeline_order_id", "order_pk", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_pk: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(40))
    # Text of an entry logged as a sentence (allocation, returns); None when `facts`
    # hold it (app.orders.domain.timeline_text words them when read).
    detail: Mapped[str | None] = mapped_column(sa.Text)
    facts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    event_id: Mapped[str | None] = mapped_column(sa.String(200))
