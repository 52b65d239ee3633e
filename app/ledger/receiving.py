"""Receiving: expected receipts (purchase orders) and goods received against them or not.

Open expected lines make up `incoming`; receiving posts `receipt` movements (with batch
or serial codes for tracked products) and lowers what is still expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.decisions import (
    BatchCode,
    Expected,
    ExpectedLine,
    ReceiptDecision,
    ReceiptLine,
    ReceiptPlan,
    decide_receipt,
    plan_receipt,
)
from app.ledger.domain import RECEIPT, LedgerError, NewMovement
from app.ledger.models import DEFAULT_LOCATION, ExpectedReceipt, StockMovement
from app.ledger.requests import fingerprint, replayed
from app.ledger.service import post_movements
from app.timeutil import utcnow


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The request contradicts stored state (409)."""


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
    po = _open_expected(session, expected_reference)
    location = location or (po.location if po is not None else None) or DEFAULT_LOCATION
    if repo.get_location(session, location) is None:
        raise LedgerError(f"unknown location {location!r}", "location")
    skus = [ln.sku for ln in lines]
    repo.ensure_products(session, skus)
    products = repo.products_by_sku(session, skus)
    plan = plan_receipt(lines, {sku: p.tracking for sku, p in products.items()})
    batches = _lock_batches(session, plan)
    rows, expected = _expected(session, po)
    template = NewMovement(
        key=prefix,
        sku="",
        quantity=0,
        type=RECEIPT,
        location=location,
        actor=actor,
        reference=reference,
        reason=reason or (f"expected receipt {expected_reference}" if po else None),
        request_sha256=digest,
    )
    decision = decide_receipt(plan, {k: b.expiry for k, b in batches.items()}, expected, template)
    for key, expiry in decision.expiries.items():
        batches[key].expiry = expiry
    posted = post_movements(session, decision.movements)
    if po is not None:
        _receive_expected(session, po, rows, decision)
    return repo.movements_by_ids(session, [r.id for r in posted.rows]), True


def _expected(
    session: Session, po: ExpectedReceipt | None
) -> tuple[dict[str, Any], Expected | None]:
    """The expected receipt's line rows by SKU, and what the decision sees of them."""
    if po is None:
        return {}, None
    rows = {ln.sku: ln for ln in repo.expected_lines(session, [po.id])}
    got = {sku: ExpectedLine(ln.quantity, ln.received) for sku, ln in rows.items()}
    return rows, Expected(po.reference, got)


def _receive_expected(
    session: Session, po: ExpectedReceipt, rows: Mapping[str, Any], decision: ReceiptDecision
) -> None:
    for sku, qty in decision.received.items():
        rows[sku].received += qty
    if decision.complete:
        po.status = "received"
    po.updated_at = utcnow()
    repo.flush(session)


def _open_expected(session: Session, reference: str | None) -> ExpectedReceipt | None:
    """The open expected receipt goods are received against (locked), None for none."""
    if reference is None:
        return None
    po = repo.expected_receipt(session, reference, lock=True)
    if po is None:
        raise LedgerError(f"unknown expected receipt {reference!r}", "expected_receipt")
    if po.status != "open":
        raise LedgerError(f"expected receipt {reference!r} is {po.status}", "expected_receipt")
    return po


def _lock_batches(session: Session, plan: ReceiptPlan) -> dict[tuple[str, str], Any]:
    """Create and lock the receipt's batch rows, serials first: two receipts of one
    serial queue, and a serial already on hand is refused."""
    now = utcnow()
    serial_rows = [_batch_row(c, utcnow()) for c in plan.codes if c.sku in plan.serials]
    repo.upsert_batches(session, serial_rows)
    refuse_serials_on_hand(session, plan.serials)
    return repo.upsert_batches(session, [_batch_row(c, now) for c in plan.codes])


def _batch_row(code: BatchCode, received_at: Any) -> dict[str, Any]:
    return {"sku": code.sku, "code": code.code, "expiry": code.expiry, "received_at": received_at}


def refuse_serials_on_hand(session: Session, codes: Mapping[str, Sequence[str]]) -> None:
    """A serial can't be on hand twice: `codes` (per SKU) must not be in stock now."""
    for sku, wanted in codes.items():
        on_hand = repo.serials_on_hand(session, sku, wanted)
        dup = sorted(c for c in wanted if on_hand.get(c, 0) > 0)
        if dup:
            raise Conflict(f"serial {', '.join(dup)} of {sku} is already on hand")


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
