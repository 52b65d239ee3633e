"""Imports every feature's models so Alembic and tests see one metadata."""

from app.allocation.models import Allocation, AllocationRule, Release
from app.db import Base
from app.ledger.models import (
    Batch,
    BundleComponent,
    ExpectedReceipt,
    ExpectedReceiptLine,
    Location,
    PickFaceLevel,
    Product,
    StockBalance,
    StockMovement,
    Stocktake,
    StocktakeLine,
)
from app.orders.models import Order, OrderLine, TimelineEntry
from app.reconcile.models import (
    PollCursor,
    ReconciliationDrift,
    ReconciliationRun,
    ReconciliationSeen,
    SchedulerRun,
    SchedulerSlot,
)
from app.reconcile.review_models import DriftFact, DriftNote
from app.users.models import ConsoleSession, LoginThrottle, User
from app.webhooks.models import EventConflict, InboxEvent

metadata = Base.metadata

__all__ = [
    "Allocation",
    "AllocationRule",
    "Base",
    "Batch",
    "BundleComponent",
    "ConsoleSession",
    "DriftFact",
    "DriftNote",
    "EventConflict",
    "ExpectedReceipt",
    "ExpectedReceiptLine",
    "InboxEvent",
    "Location",
    "LoginThrottle",
    "Order",
    "OrderLine",
    "PickFaceLevel",
    "PollCursor",
    "Product",
    "Release",
    "ReconciliationDrift",
    "ReconciliationRun",
    "ReconciliationSeen",
    "SchedulerRun",
    "SchedulerSlot",
    "StockBalance",
    "StockMovement",
    "Stocktake",
    "StocktakeLine",
    "TimelineEntry",
    "User",
    "metadata",
]
