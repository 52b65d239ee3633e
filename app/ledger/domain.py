"""Pure ledger rules: movement types, signs, idempotency keys. No framework imports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

SHIPMENT = "shipment"
SHIPMENT_REVERSAL = "shipment_reversal"
RECEIPT = "receipt"
ADJUSTMENT = "adjustment"
STOCKTAKE = "stocktake"
RETURN = "return"
MANUAL_TYPES = (RECEIPT, ADJUSTMENT)
SHIPMENT_TYPES = (SHIPMENT, SHIPMENT_REVERSAL)
MOVEMENT_TYPES = (SHIPMENT, SHIPMENT_REVERSAL, RECEIPT, ADJUSTMENT, STOCKTAKE, RETURN)


class LedgerError(ValueError):
    """A movement breaks a ledger rule; `field` names the offending input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewMovement:
    key: str
    sku: str
    quantity: int
    type: str
    location: str
    actor: str
    batch: str = ""
    reference: str | None = None
    reason: str | None = None
    account_id: str | None = None
    order_id: int | None = None
    event_id: str | None = None
    request_sha256: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def shipment_movement(
    *,
    account_id: str,
    order_id: int,
    order_number: str | None,
    sku: str,
    delta: int,
    event_id: str,
    location: str,
    actor: str,
) -> NewMovement:
    """`delta` units leave (delta > 0: shipment) or come back (delta < 0: voided label)."""
    kind = SHIPMENT if delta > 0 else SHIPMENT_REVERSAL
    return NewMovement(
        key=f"{kind}:{account_id}:{order_id}:{sku}:{event_id}",
        sku=sku,
        quantity=-delta,
        type=kind,
        location=location,
        actor=actor,
        reference=order_number,
        account_id=account_id,
        order_id=order_id,
        event_id=event_id,
    )


def manual_key(reference: str) -> str:
    return f"manual:{reference}"


def request_fingerprint(content: dict[str, object]) -> str:
    """Stable hash of a manual movement request, to tell a replay from a conflict."""
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def validate_manual(sku: str, quantity: int, type_: str) -> None:
    if type_ not in MANUAL_TYPES:
        raise LedgerError(f"type must be one of {', '.join(MANUAL_TYPES)}", "type")
    if quantity == 0:
        raise LedgerError("quantity must not be 0", "quantity")
    if type_ == RECEIPT and quantity < 0:
        raise LedgerError("a receipt adds stock: quantity must be positive", "quantity")


def net_by_balance(movements: Iterable[NewMovement]) -> dict[tuple[str, str, str], int]:
    """Sum quantities per (sku, location, batch), sorted: balance rows lock in key order."""
    net: dict[tuple[str, str, str], int] = {}
    for m in movements:
        key = (m.sku, m.location, m.batch)
        net[key] = net.get(key, 0) + m.quantity
    return dict(sorted(net.items()))
