"""Stock ledger tables: products, locations, append-only movements, balance projection."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.timeutil import utcnow

DEFAULT_LOCATION = "DEFAULT"


TRACKING_MODES = ("none", "batch", "serial")
BUNDLE_KINDS = ("none", "exploding", "require_stock")


class Product(Base):
    """A SKU. Created on first sight (an order line, a receipt)."""

    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    tracking: Mapped[str] = mapped_column(sa.String(10), default="none", server_default="none")
    # None: the global default strategy applies.
    strategy: Mapped[str | None] = mapped_column(sa.String(20))
    bundle: Mapped[str] = mapped_column(sa.String(20), default="none", server_default="none")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BundleComponent(Base):
    """One component of a bundle SKU: `quantity` units per bundle."""

    __tablename__ = "bundle_components"
    __table_args__ = (sa.CheckConstraint("quantity > 0", name="quantity_positive"),)

    bundle_sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"), primary_key=True)
    component_sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"), primary_key=True)
    quantity: Mapped[int] = mapped_column(sa.Integer)


class Batch(Base):
    """A batch (lot) or serial number of a tracked product. Balances key on its code."""

    __tablename__ = "batches"

    sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    expiry: Mapped[date | None] = mapped_column(sa.Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Location(Base):
    __tablename__ = "locations"

    code: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), default="bulk")
    warehouse: Mapped[str] = mapped_column(sa.String(50), default="MAIN", server_default="MAIN")
    # Pick order within the warehouse (pick lists sort by it, then by code).
    sequence: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PickFaceLevel(Base):
    """Minimum on hand wanted at a pick face for a SKU (replenishment suggestions)."""

    __tablename__ = "pick_face_levels"

    sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"), primary_key=True)
    location: Mapped[str] = mapped_column(sa.ForeignKey("locations.code"), primary_key=True)
    min_level: Mapped[int] = mapped_column(sa.Integer)


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
    # Set on component movements of an exploding bundle's shipment: the bundle SKU.
    bundle_sku: Mapped[str | None] = mapped_column(sa.String(50))
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


class ExpectedReceipt(Base):
    """A purchase order: units expected to arrive. Open lines make up `incoming`."""

    __tablename__ = "expected_receipts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(sa.String(200), unique=True)
    supplier: Mapped[str | None] = mapped_column(sa.String(200))
    expected_date: Mapped[date | None] = mapped_column(sa.Date)
    location: Mapped[str | None] = mapped_column(sa.ForeignKey("locations.code"))
    status: Mapped[str] = mapped_column(sa.String(20), default="open")  # open|received|cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExpectedReceiptLine(Base):
    __tablename__ = "expected_receipt_lines"
    __table_args__ = (
        sa.UniqueConstraint("receipt_id", "sku"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.Index("ix_expected_receipt_lines_sku", "sku"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    receipt_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("expected_receipts.id", ondelete="CASCADE")
    )
    sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(sa.Integer)
    received: Mapped[int] = mapped_column(sa.Integer, default=0)


class Stocktake(Base):
    """A count of one location: the book is recorded when it opens."""

    __tablename__ = "stocktakes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    location: Mapped[str] = mapped_column(sa.ForeignKey("locations.code"))
    status: Mapped[str] = mapped_column(sa.String(20), default="open")  # open|submitted
    # Highest movement id when the count opened: later movements make a line stale.
    last_movement_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    actor: Mapped[str] = mapped_column(sa.String(100))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StocktakeLine(Base):
    __tablename__ = "stocktake_lines"
    __table_args__ = (sa.UniqueConstraint("stocktake_id", "sku", "batch"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    stocktake_id: Mapped[int] = mapped_column(
        BigIntPK, sa.ForeignKey("stocktakes.id", ondelete="CASCADE")
    )
    sku: Mapped[str] = mapped_column(sa.ForeignKey("products.sku"))
    batch: Mapped[str] = mapped_column(sa.String(100), default="")
    book: Mapped[int] = mapped_column(sa.Integer)
    counted: Mapped[int | None] = mapped_column(sa.Integer)
    # None until submitted; then applied | unchanged | moved | not_counted
    status: Mapped[str | None] = mapped_column(sa.String(20))
    movement_id: Mapped[int | None] = mapped_column(sa.BigInteger)
