"""Ledger use cases: posting movements (the only way stock changes) and reading stock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import (
    LedgerError,
    NewMovement,
    manual_key,
    request_fingerprint,
    validate_manual,
)
from app.ledger.models import DEFAULT_LOCATION, StockMovement
from app.ledger.ports import balance_observer
from app.ledger.strategies import sellable


class MovementConflict(Exception):
    """The reference was used before for a different movement."""

    def __init__(self, reference: str, original: StockMovement) -> None:
        super().__init__(
            f"reference {reference!r} was already used for a different movement "
            f"(id {original.id}: {original.type} {original.quantity:+d} {original.sku})"
        )
        self.original = original


class NegativeStockRefused(Exception):
    def __init__(self, sku: str, location: str, on_hand: int) -> None:
        super().__init__(
            f"{sku} at {location} would go to {on_hand} on hand; "
            "STOCKMIRROR_NEGATIVE_STOCK=block refuses manual movements below zero"
        )
        self.sku, self.location, self.on_hand = sku, location, on_hand


@dataclass(frozen=True)
class Posted:
    rows: list[sa.Row[Any]]
    on_hand: dict[tuple[str, str, str], int]


def post_movements(session: Session, movements: Sequence[NewMovement]) -> Posted:
    """Append movements and update balances in the caller's transaction.

    Movements whose key already exists are skipped (and not added to balances), so a
    replay or a race can never count twice. (An order event whose movements nothing
    watches may have orders' save_order append them instead, with the same SQL.)
    """
    if not movements:
        return Posted([], {})
    rows, on_hand = repo.append_movements(session, movements)
    balance_observer(session).on_balances_changed(session, on_hand)
    return Posted(rows, on_hand)


def record_manual_movement(
    session: Session,
    *,
    sku: str,
    quantity: int,
    type_: str,
    reference: str,
    location: str | None,
    reason: str | None,
    actor: str,
    negative_policy: str,
) -> tuple[StockMovement, bool]:
    """Receipt or adjustment keyed by `reference`. Returns (movement, created)."""
    validate_manual(sku, quantity, type_)
    location = location or DEFAULT_LOCATION
    content = {"sku": sku, "quantity": quantity, "type": type_, "location": location}
    fingerprint = request_fingerprint(content)
    key = manual_key(reference)

    existing = repo.movement_by_key(session, key)
    if existing is not None:
        return _replayed(existing, reference, fingerprint), False
    if not repo.location_exists(session, location):
        raise LedgerError(f"unknown location {location!r}", "location")

    movement = NewMovement(
        key=key,
        sku=sku,
        quantity=quantity,
        type=type_,
        location=location,
        actor=actor,
        reference=reference,
        reason=reason,
        request_sha256=fingerprint,
    )
    posted = post_movements(session, [movement])
    if not posted.rows:  # a concurrent request with the same reference won the race
        raced = repo.movement_by_key(session, key)
        assert raced is not None
        return _replayed(raced, reference, fingerprint), False
    on_hand = posted.on_hand[(sku, location, "")]
    if negative_policy == "block" and quantity < 0 and on_hand < 0:
        raise NegativeStockRefused(sku, location, on_hand)
    created = session.get(StockMovement, posted.rows[0].id)
    assert created is not None
    return created, True


def _replayed(existing: StockMovement, reference: str, fingerprint: str) -> StockMovement:
    if existing.request_sha256 != fingerprint:
        raise MovementConflict(reference, existing)
    return existing


@dataclass(frozen=True)
class StockView:
    """Inventory states of one SKU: on hand, allocated, available, incoming.

    CONTRACT §4: `available = on_hand − allocated`. Units in `non_sellable` locations
    (damaged returns) count as on hand (Σ movements) and so in `available`, as the
    contract defines it; `non_sellable` shows how many and `available_to_sell` leaves them
    out (allocation never reserves them).
    """

    sku: str
    on_hand: int
    allocated: int
    locations: list[dict[str, Any]]
    incoming: int = 0
    non_sellable: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated

    @property
    def available_to_sell(self) -> int:
        return self.available - self.non_sellable

    @property
    def flags(self) -> list[str]:
        return ["negative"] if self.on_hand < 0 else []

    @property
    def overallocated(self) -> bool:
        """More units reserved than are on hand at some location (a count, a return to a
        non-sellable place or a shipment took them after they were reserved)."""
        return any(loc["allocated"] > loc["on_hand"] for loc in self.locations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "on_hand": self.on_hand,
            "allocated": self.allocated,
            "available": self.available,
            "incoming": self.incoming,
            "non_sellable": self.non_sellable,
            "available_to_sell": self.available_to_sell,
            "flags": self.flags,
            "locations": self.locations,
        }


def stock_views(session: Session, skus: Sequence[str]) -> list[StockView]:
    """Stock for these SKUs (unknown ones are left out), with per-location balances."""
    per_sku: dict[str, list[dict[str, Any]]] = {}
    incoming: dict[str, int] = {}
    expected_at: list[Any] = []
    for r in repo.stock_rows(session, skus):
        if r.part == 2:
            expected_at.append(r)
            continue
        locs = per_sku.setdefault(r.sku, [])
        incoming[r.sku] = int(r.incoming or 0)
        if r.location is None:
            continue
        locs.append(
            {
                "location": r.location,
                "kind": r.kind,
                "batch": r.batch or None,
                "on_hand": r.on_hand,
                "allocated": r.allocated,
                "available": r.on_hand - r.allocated,
            }
        )
    for r in expected_at:
        locs = per_sku.get(r.sku, [])
        here = next((loc for loc in locs if loc["location"] == r.location), None)
        if here is None:  # expected at a location that holds none of it yet
            here = {
                "location": r.location,
                "kind": r.kind,
                "batch": None,
                "on_hand": 0,
                "allocated": 0,
                "available": 0,
            }
            locs.append(here)
        here["incoming"] = int(r.incoming)
    views = []
    for sku in skus:
        if sku not in per_sku:
            continue
        locs = per_sku[sku]
        for loc in locs:
            loc.setdefault("incoming", 0)
        views.append(
            StockView(
                sku=sku,
                on_hand=sum(loc["on_hand"] for loc in locs),
                allocated=sum(loc["allocated"] for loc in locs),
                locations=locs,
                incoming=incoming.get(sku, 0),
                non_sellable=sum(loc["on_hand"] for loc in locs if not sellable(loc["kind"])),
            )
        )
    return views


def stock_view(session: Session, sku: str) -> StockView | None:
    views = stock_views(session, [sku])
    return views[0] if views else None
