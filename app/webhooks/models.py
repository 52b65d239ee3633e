"""The durable inbox: every accepted webhook is stored before it is applied."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.timeutil import utcnow

# Inbox statuses. `applied`, `stale`, `ignored` are final, and so is `discarded` (a
# parked event retired by a person, who and why kept); `parked` and `pending` wait for a
# replay (pending = stored, work outstanding, e.g. Starshipit unreachable).
FINAL_STATUSES = ("applied", "stale", "ignored", "discarded")
REPLAYABLE_STATUSES = ("parked", "pending")


class InboxEvent(Base):
    __tablename__ = "inbox_events"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "event_id"),
        sa.Index("ix_inbox_events_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(100))
    event_id: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(20), default="orders")
    event_type: Mapped[str] = mapped_column(sa.String(40))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    order_number: Mapped[str | None] = mapped_column(sa.String(100))
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discarded_by: Mapped[str | None] = mapped_column(sa.String(200))
    discard_reason: Mapped[str | None] = mapped_column(sa.Text)


class EventConflict(Base):
    """A redelivered event_id whose body differs from the stored one: kept for review."""

    __tablename__ = "event_conflicts"
    __table_args__ = (sa.UniqueConstraint("account_id", "event_id", "body_sha256"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(sa.String(100))
    event_id: Mapped[str] = mapped_column(sa.String(200))
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
