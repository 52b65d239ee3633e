"""Locations, transfers between them, pick-face minimums and replenishment suggestions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.decisions import TransferRequest, check_transfer, decide_transfer
from app.ledger.domain import (
    LOCATION_KINDS,
    PICK_FACE,
    TRANSFER_OUT,
    LedgerError,
    NewMovement,
    Suggestion,
    replenishment,
)
from app.ledger.models import Location, StockMovement
from app.ledger.receiving import Conflict
from app.ledger.requests import fingerprint, replayed
from app.ledger.service import NegativeStockRefused, post_movements
from app.timeutil import isoformat, utcnow


def create_location(
    session: Session, *, code: str, kind: str, warehouse: str, sequence: int
) -> Location:
    if kind not in LOCATION_KINDS:
        raise LedgerError(f"kind must be one of {', '.join(LOCATION_KINDS)}", "kind")
    if repo.get_location(session, code) is not None:
        raise Conflict(f"location {code!r} already exists")
    location = Location(
        code=code, kind=kind, warehouse=warehouse, sequence=sequence, created_at=utcnow()
    )
    repo.add(session, location)
    return location


def location_json(loc: Location) -> dict[str, Any]:
    return {
        "code": loc.code,
        "kind": loc.kind,
        "warehouse": loc.warehouse,
        "sequence": loc.sequence,
        "created_at": isoformat(loc.created_at),
    }


def set_min_level(session: Session, *, sku: str, location: str, min_level: int) -> None:
    loc = repo.get_location(session, location)
    if loc is None:
        raise LedgerError(f"unknown location {location!r}", "location")
    if loc.kind != PICK_FACE:
        raise LedgerError(f"{location!r} is {loc.kind}, not a pick_face", "location")
    if min_level < 0:
        raise LedgerError("min_level must not be negative", "min_level")
    repo.ensure_products(session, [sku])
    repo.set_pick_face_level(session, sku, location, min_level)


def suggestions(session: Session) -> list[Suggestion]:
    levels = repo.pick_face_levels(session)
    return replenishment(levels, repo.bulk_sources(session, sorted({lv[0] for lv in levels})))


def transfer(
    session: Session,
    *,
    sku: str,
    quantity: int,
    from_location: str,
    to_location: str,
    batch: str | None,
    reference: str,
    actor: str,
    reason: str | None,
    negative_policy: str,
) -> tuple[list[StockMovement], bool]:
    """A paired transfer_out / transfer_in, keyed by `reference`."""
    request = TransferRequest(sku, quantity, from_location, to_location, batch or "")
    check_transfer(request)
    digest = fingerprint(request.content())
    prefix = f"transfer:{reference}:"
    earlier = replayed(session, reference, prefix, digest)
    if earlier is not None:
        return earlier, False
    known = repo.locations_by_code(session, [from_location, to_location])
    product = repo.products_by_sku(session, [sku]).get(sku)
    template = NewMovement(
        key=prefix,
        sku=sku,
        quantity=0,
        type=TRANSFER_OUT,
        location=from_location,
        actor=actor,
        reference=reference,
        reason=reason or f"transfer {from_location} → {to_location}",
        request_sha256=digest,
    )
    tracking = product.tracking if product is not None else None
    posted = post_movements(session, decide_transfer(request, known, tracking, template))
    left = posted.on_hand.get((sku, from_location, request.batch), 0)
    if negative_policy == "block" and left < 0:
        raise NegativeStockRefused(sku, from_location, left)
    return repo.movements_by_ids(session, [r.id for r in posted.rows]), True
