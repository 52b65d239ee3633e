"""Stock ledger tables: products, locations, append-only movements, balance projection."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.timeutil import utcnow

DEFAULT_LOCATION = "DEFAULT"


class Product(Base):
    """A SKU. Created on first sight (an order line, a receipt)."""

    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Location(Base):
    __tablename__ = "locations"

    code: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="bulk")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockMovement(Base):
    """One immutable ledger entry. Never updated or deleted (a trigger enforces it)."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        sa.Index("ix_stock_movements_sku_id", "sku", "id"),
        sa.Index("ix_stock_movements_order", "account_id", "order_id"),
        sa.Index("ix_stock_movements_type_id", "type", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(400), unique=True)
    sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"))
    location: Mapped[str] = mapped_column(sa.ForeignKey("locations.code"))
    batch: Mapped[str] = mapped_column(sa.String(100), default="")
    quantity: Mapped[int] = mapped_column(sa.Integer)
    type: Mapped[str] = mapped_column(sa.String(30))
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    account_id: Mapped[str | None] = mapped_column(sa.String(100))
    order_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    event_id: Mapped[str | None] = mapped_column(sa.String(200))
    actor: Mapped[str] = mapped_column(sa.String(100))
    request_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockBalance(Base):
    """Projection of movements per (SKU, location, batch), updated in the same transaction."""

    __tablename__ = "stock_balances"
    __table_args__ = (sa.UniqueConstraint("sku", "location", "batch"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"))
    location: Mapped[str] = mapped_column(sa.ForeignKey("locations.code"))
    batch: Mapped[str] = mapped_column(sa.String(100), default="")
    on_hand: Mapped[int] = mapped_column(sa.Integer, default=0)
    allocated: Mapped[int] = mapped_column(sa.Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
