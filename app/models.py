"""Imports every feature's models so Alembic and tests see one metadata."""

from app.db import Base
from app.ledger.models import (
    Batch,
    BundleComponent,
    Location,
    PickFaceLevel,
    Product,
    StockBalance,
    StockMovement,
)
from app.orders.models import Order, OrderLine, TimelineEntry
from app.webhooks.models import EventConflict, InboxEvent

metadata = Base.metadata

__all__ = [
    "Base",
    "Batch",
    "BundleComponent",
    "EventConflict",
    "InboxEvent",
    "Location",
    "Order",
    "OrderLine",
    "PickFaceLevel",
    "Product",
    "StockBalance",
    "StockMovement",
    "TimelineEntry",
    "metadata",
]
