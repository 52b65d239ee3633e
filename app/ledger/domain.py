"""Pure ledger rules: movement types, signs, idempotency keys. No framework imports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.ledger.strategies import (  # noqa: F401 - the names ledger code uses
    BULK,
    DEFAULT_STRATEGY,
    FEFO,
    FIFO,
    LOCATION_KINDS,
    NON_SELLABLE,
    PICK_FACE,
    PICK_FACE_FIRST,
    STRATEGIES,
)


class MovementKind(StrEnum):
    """What a stock movement is (the values are what the database and API hold)."""

    SHIPMENT = "shipment"
    SHIPMENT_REVERSAL = "shipment_reversal"
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    STOCKTAKE = "stocktake"
    RETURN = "return"
    RETURN_DAMAGED = "return_damaged"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    IMPORT = "import"


SHIPMENT = MovementKind.SHIPMENT
SHIPMENT_REVERSAL = MovementKind.SHIPMENT_REVERSAL
RECEIPT = MovementKind.RECEIPT
ADJUSTMENT = MovementKind.ADJUSTMENT
STOCKTAKE = MovementKind.STOCKTAKE
RETURN = MovementKind.RETURN
RETURN_DAMAGED = MovementKind.RETURN_DAMAGED
TRANSFER_OUT = MovementKind.TRANSFER_OUT
TRANSFER_IN = MovementKind.TRANSFER_IN
IMPORT = MovementKind.IMPORT
MANUAL_TYPES: tuple[str, ...] = (RECEIPT, ADJUSTMENT)
SHIPMENT_TYPES: tuple[str, ...] = (SHIPMENT, SHIPMENT_REVERSAL)
RETURN_TYPES: tuple[str, ...] = (RETURN, RETURN_DAMAGED)
MOVEMENT_TYPES: tuple[str, ...] = tuple(k.value for k in MovementKind)


# Location kinds and picking strategies: app/ledger/strategies.py.
TRACKING_MODES = ("none", "batch", "serial")
BUNDLE_KINDS = ("none", "exploding", "require_stock")


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
    # Exploding bundle whose shipment this component movement belongs to.
    bundle_sku: str | None = None
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
    batch: str = "",
    bundle_sku: str | None = None,
) -> NewMovement:
    """`delta` units leave (delta > 0: shipment) or come back (delta < 0: voided label).

    One event may take a SKU from several places (and as a bundle component), so the
    key names the origin and the place; the plain key stays for the simple case.
    """
    kind = SHIPMENT if delta > 0 else SHIPMENT_REVERSAL
    key = f"{kind}:{account_id}:{order_id}:{sku}:{event_id}"
    if bundle_sku is not None:
        key += f":via:{bundle_sku}"
    if location != "DEFAULT" or batch:
        key += f"@{location}/{batch}"
    return NewMovement(
        key=key,
        sku=sku,
        quantity=-delta,
        type=kind,
        location=location,
        actor=actor,
        batch=batch,
        reference=order_number,
        reason=f"bundle {bundle_sku}" if bundle_sku else None,
        account_id=account_id,
        order_id=order_id,
        event_id=event_id,
        bundle_sku=bundle_sku,
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


# --- bundles -------------------------------------------------------------------------


def bundle_units(shipped_components: dict[str, int], per_bundle: dict[str, int]) -> int:
    """Whole bundles shipped, from the component units shipped on their behalf."""
    if not per_bundle:
        return 0
    return min(shipped_components.get(c, 0) // q for c, q in per_bundle.items())


# --- stocktakes, returns, replenishment -----------------------------------------------


@dataclass(frozen=True)
class CountResult:
    sku: str
    batch: str
    book: int
    counted: int
    status: str  # applied | unchanged | moved

    @property
    def difference(self) -> int:
        return self.counted - self.book


def judge_counts(
    book: dict[tuple[str, str], int],
    counts: dict[tuple[str, str], int],
    moved: set[str],
) -> list[CountResult]:
    """Compare counts with the book recorded when the count opened.

    A SKU that moved at the location since then is reported as `moved` and not applied:
    its book is stale, so counted − book would be wrong.
    """
    results = []
    for (sku, batch), counted in sorted(counts.items()):
        if counted < 0:
            raise LedgerError(f"count for {sku} must not be negative", "counts")
        was = book.get((sku, batch), 0)
        if sku in moved:
            status = "moved"
        elif counted == was:
            status = "unchanged"
        else:
            status = "applied"
        results.append(CountResult(sku, batch, was, counted, status))
    return results


def check_return(sku: str, quantity: int, shipped: int, returned: int) -> None:
    if quantity <= 0:
        raise LedgerError("return quantity must be positive", "quantity")
    if quantity + returned > shipped:
        raise LedgerError(
            f"return of {quantity} {sku} exceeds what can be returned "
            f"(shipped {shipped}, already returned {returned})",
            "quantity",
        )


@dataclass(frozen=True)
class Suggestion:
    sku: str
    pick_face: str
    min_level: int
    on_hand: int
    short_by: int
    from_location: str | None
    from_available: int


def replenishment(
    levels: Iterable[tuple[str, str, str, int, int]],
    bulk: dict[tuple[str, str], list[tuple[str, int]]],
) -> list[Suggestion]:
    """(sku, pick face, warehouse, min level, on hand) → suggestions for faces below
    their level. The bulk location to pull from is the one in the same warehouse with
    the most available units of the SKU (None when there is none)."""
    out = []
    for sku, face, warehouse, level, on_hand in levels:
        if on_hand >= level:
            continue
        sources = sorted(bulk.get((sku, warehouse), []), key=lambda s: (-s[1], s[0]))
        src = sources[0] if sources else None
        out.append(
            Suggestion(
                sku=sku,
                pick_face=face,
                min_level=level,
                on_hand=on_hand,
                short_by=level - on_hand,
                from_location=src[0] if src else None,
                from_available=src[1] if src else 0,
            )
        )
    return out
