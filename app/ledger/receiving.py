"""Receiving: expected receipts (purchase orders) and goods received against them or not.

Open expected lines make up `incoming`; receiving posts `receipt` movements (with batch
or serial codes for tracked products) and lowers what is still expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import RECEIPT, LedgerError, NewMovement
from app.ledger.models import DEFAULT_LOCATION, ExpectedReceipt, StockMovement
from app.ledger.requests import fingerprint, replayed
from app.ledger.service import post_movements
from app.timeutil import utcnow


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The request contradicts stored state (409)."""


@dataclass(frozen=True)
class ReceiptLine:
    sku: str
    quantity: int
    batch: str | None = None
    expiry: date | None = None
    serials: tuple[str, ...] = field(default_factory=tuple)


def create_expected_receipt(
    session: Session,
    *,
    reference: str,
    lines: Sequence[tuple[str, int]],
    expected_date: date | None,
    supplier: str | None,
    location: str | None,
) -> ExpectedReceipt:
    if not lines:
        raise LedgerError("an expected receipt needs at least one line", "lines")
    skus = [s for s, _ in lines]
    if len(set(skus)) != len(skus):
        raise LedgerError("each SKU may appear once per expected receipt", "lines")
    if any(q <= 0 for _, q in lines):
        raise LedgerError("expected quantities must be positive", "lines")
    if location is not None and repo.get_location(session, location) is None:
        raise LedgerError(f"unknown location {location!r}", "location")
    if repo.expected_receipt(session, reference) is not None:
        raise Conflict(f"expected receipt {reference!r} already exists")
    repo.ensure_products(session, skus)
    now = utcnow()
    receipt = ExpectedReceipt(
        reference=reference,
        supplier=supplier,
        expected_date=expected_date,
        location=location,
        status="open",
        created_at=now,
        updated_at=now,
    )
    return repo.add_expected_receipt(session, receipt, sorted(lines))


def cancel_expected_receipt(session: Session, reference: str) -> ExpectedReceipt:
    receipt = repo.expected_receipt(session, reference, lock=True)
    if receipt is None:
        raise NotFound(f"expected receipt {reference!r} not found")
    if receipt.status == "open":
        receipt.status = "cancelled"
        receipt.updated_at = utcnow()
        repo.flush(session)
    return receipt


def receive(
    session: Session,
    *,
    reference: str,
    lines: Sequence[ReceiptLine],
    location: str | None,
    expected_reference: str | None,
    actor: str,
    reason: str | None = None,
) -> tuple[list[StockMovement], bool]:
    """Post receipt movements for `lines`. Returns (movements, created).

    `reference` (the delivery / goods-received note) makes the call idempotent.
    """
    if not lines:
        raise LedgerError("a receipt needs at least one line", "lines")
    content: dict[str, Any] = {
        "location": location,
        "expected_receipt": expected_reference,
        "lines": [[ln.sku, ln.quantity, ln.batch, ln.expiry, sorted(ln.serials)] for ln in lines],
    }
    digest = fingerprint(content)
    prefix = f"receipt:{reference}:"
    earlier = replayed(session, reference, prefix, digest)
    if earlier is not None:
        return earlier, False

    po = None
    if expected_reference is not None:
        po = repo.expected_receipt(session, expected_reference, lock=True)
        if po is None:
            raise LedgerError(
                f"unknown expected receipt {expected_reference!r}", "expected_receipt"
            )
        if po.status != "open":
            raise LedgerError(
                f"expected receipt {expected_reference!r} is {po.status}", "expected_receipt"
            )
    location = location or (po.location if po is not None else None) or DEFAULT_LOCATION
    if repo.get_location(session, location) is None:
        raise LedgerError(f"unknown location {location!r}", "location")

    skus = [ln.sku for ln in lines]
    repo.ensure_products(session, skus)
    products = repo.products_by_sku(session, skus)
    now = utcnow()
    batch_rows: list[dict[str, Any]] = []
    places: list[tuple[str, str, int]] = []  # (sku, batch, quantity)
    for i, ln in enumerate(lines):
        where = f"lines[{i}]"
        if ln.quantity <= 0:
            raise LedgerError("received quantity must be positive", f"{where}.quantity")
        tracking = products[ln.sku].tracking
        if tracking == "serial":
            if len(ln.serials) != ln.quantity or len(set(ln.serials)) != len(ln.serials):
                raise LedgerError(
                    f"{ln.sku} is serial-tracked: give {ln.quantity} distinct serials",
                    f"{where}.serials",
                )
            for code in ln.serials:
                batch_rows.append({"sku": ln.sku, "code": code, "expiry": ln.expiry})
                places.append((ln.sku, code, 1))
        elif tracking == "batch":
            if not ln.batch:
                raise LedgerError(f"{ln.sku} is batch-tracked: batch is required", f"{where}.batch")
            batch_rows.append({"sku": ln.sku, "code": ln.batch, "expiry": ln.expiry})
            places.append((ln.sku, ln.batch, ln.quantity))
        else:
            if ln.batch or ln.serials:
                raise LedgerError(f"{ln.sku} is not batch- or serial-tracked", f"{where}.batch")
            places.append((ln.sku, "", ln.quantity))
    _check_codes(session, batch_rows, places, products)
    for row in batch_rows:
        row["received_at"] = now
    batches = repo.upsert_batches(session, batch_rows)
    for row in batch_rows:
        stored = batches[(row["sku"], row["code"])]
        if row["expiry"] is not None and stored.expiry not in (None, row["expiry"]):
            raise LedgerError(
                f"batch {row['code']} of {row['sku']} already has expiry {stored.expiry}",
                "expiry",
            )
        if row["expiry"] is not None and stored.expiry is None:
            stored.expiry = row["expiry"]

    movements = [
        NewMovement(
            key=f"{prefix}{n}",
            sku=sku,
            quantity=qty,
            type=RECEIPT,
            location=location,
            actor=actor,
            batch=batch,
            reference=reference,
            reason=reason or (f"expected receipt {expected_reference}" if po else None),
            request_sha256=digest,
        )
        for n, (sku, batch, qty) in enumerate(places)
    ]
    posted = post_movements(session, movements)
    if po is not None:
        _apply_to_expected(session, po, lines)
    created = repo.movements_by_ids(session, [r.id for r in posted.rows])
    return created, True


def _check_codes(
    session: Session,
    batch_rows: Sequence[dict[str, Any]],
    places: Sequence[tuple[str, str, int]],
    products: dict[str, Any],
) -> None:
    """A serial can't be on hand twice: not in this receipt, not already in stock."""
    seen: set[tuple[str, str]] = set()
    per_sku: dict[str, list[str]] = {}
    for sku, code, _ in places:
        if products[sku].tracking != "serial":
            continue
        if (sku, code) in seen:
            raise LedgerError(f"serial {code} of {sku} appears twice", "serials")
        seen.add((sku, code))
        per_sku.setdefault(sku, []).append(code)
    if not per_sku:
        return
    # Lock the serials' batch rows first, so two receipts of one serial queue.
    repo.upsert_batches(
        session,
        [dict(r, received_at=utcnow()) for r in batch_rows if (r["sku"], r["code"]) in seen],
    )
    for sku, codes in per_sku.items():
        on_hand = repo.serials_on_hand(session, sku, codes)
        dup = sorted(c for c in codes if on_hand.get(c, 0) > 0)
        if dup:
            raise Conflict(f"serial {', '.join(dup)} of {sku} is already on hand")


def _apply_to_expected(session: Session, po: ExpectedReceipt, lines: Sequence[ReceiptLine]) -> None:
    received: dict[str, int] = {}
    for ln in lines:
        received[ln.sku] = received.get(ln.sku, 0) + ln.quantity
    expected = {line.sku: line for line in repo.expected_lines(session, [po.id])}
    unknown = sorted(set(received) - set(expected))
    if unknown:
        raise LedgerError(f"{', '.join(unknown)} not on expected receipt {po.reference}", "lines")
    for sku, qty in received.items():
        expected[sku].received += qty
    if all(line.received >= line.quantity for line in expected.values()):
        po.status = "received"
    po.updated_at = utcnow()
    repo.flush(session)


def expected_receipt_json(po: ExpectedReceipt, lines: Sequence[Any]) -> dict[str, Any]:
    from app.timeutil import isoformat

    return {
        "reference": po.reference,
        "supplier": po.supplier,
        "expected_date": po.expected_date.isoformat() if po.expected_date else None,
        "location": po.location,
        "status": po.status,
        "created_at": isoformat(po.created_at),
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "received": line.received,
                "outstanding": max(line.quantity - line.received, 0) if po.status == "open" else 0,
            }
            for line in lines
        ],
    }
