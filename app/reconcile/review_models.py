"""What people add to a drift report: notes (acknowledged, resolved, reopened) kept as an
append-only audit trail, and the money facts of each drift row (a read model built from
the report and the mirror, rebuildable at any time)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigIntPK, UTCDateTime
from app.timeutil import utcnow


class DriftNote(Base):
    """One person's word on one drift row. Never updated or deleted (a trigger refuses
    it): the newest note of a row is its review status."""

    __tablename__ = "reconciliation_drift_notes"
    __table_args__ = (
        sa.Index("ix_reconciliation_drift_notes_drift", "drift_id", "id"),
        sa.Index("ix_reconciliation_drift_notes_run", "run_id", "drift_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("reconciliation_runs.id"))
    drift_id: Mapped[int] = mapped_column(sa.ForeignKey("reconciliation_drift.id"))
    status: Mapped[str] = mapped_column(sa.String(16))  # acknowledged | resolved | open
    note: Mapped[str] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DriftFact(Base):
    """Quantities and money of one drift row: Starshipit's and the ledger's units, their
    difference, the line's unit value (Starshipit's item value, else the mirrored line's)
    and difference × unit value; the shipped date."""

    __tablename__ = "reconciliation_drift_facts"
    __table_args__ = (sa.Index("ix_reconciliation_drift_facts_run", "run_id", "drift_id"),)

    drift_id: Mapped[int] = mapped_column(
        sa.ForeignKey("reconciliation_drift.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("reconciliation_runs.id"))
    starshipit_qty: Mapped[int | None] = mapped_column(sa.BigInteger)
    ledger_qty: Mapped[int | None] = mapped_column(sa.BigInteger)
    difference: Mapped[int | None] = mapped_column(sa.BigInteger)
    unit_value: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 4))
    value: Mapped[Decimal | None] = mapped_column(sa.Numeric(18, 4))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
