"""Returns against an order (order side: it reads the order and writes its timeline,
then posts ledger movements): each unit is restocked or set aside as damaged.

- `restock`: a `return` movement puts the units back into a chosen sellable location.
- `damaged`: a `return_damaged` movement puts them into a `non_sellable` location
  (`DAMAGED` unless another non-sellable one is chosen): on hand there, never available.
Batches/serials come back as the ones the order shipped. Never more than shipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import (
    NON_SELLABLE,
    RETURN,
    RETURN_DAMAGED,
    RETURN_TYPES,
    LedgerError,
    NewMovement,
    check_return,
)
from app.ledger.models import DEFAULT_LOCATION, StockMovement
from app.ledger.receiving import Conflict, NotFound
from app.ledger.requests import fingerprint, replayed
from app.ledger.service import post_movements
from app.ledger.strategies import Take, by_origin, explode, give_back
from app.orders import repository as orders_repo
from app.timeutil import utcnow

DAMAGED_LOCATION = "DAMAGED"
RESTOCK, DAMAGED = "restock", "damaged"


@dataclass(frozen=True)
class ReturnLine:
    sku: str
    quantity: int
    disposition: str
    location: str | None = None


def receive_return(
    session: Session,
    *,
    account_id: str,
    order_id: int,
    reference: str,
    lines: Sequence[ReturnLine],
    actor: str,
    reason: str | None = None,
) -> tuple[list[StockMovement], bool]:
    if not lines:
        raise LedgerError("a return needs at least one line", "lines")
    order = orders_repo.get_order(session, account_id, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found in account {account_id!r}")
    content = {
        "order": [account_id, order_id],
        "lines": [[ln.sku, ln.quantity, ln.disposition, ln.location] for ln in lines],
    }
    digest = fingerprint(content)
    prefix = f"return:{account_id}:{order_id}:{reference}:"
    earlier = replayed(session, reference, prefix, digest)
    if earlier is not None:
        return earlier, False

    shipped = repo.shipped_by_sku(session, account_id, order_id)
    returned = repo.order_net_by_sku(session, account_id, order_id, RETURN_TYPES)
    asked: dict[str, int] = {}
    targets: list[tuple[str, int, str, str]] = []  # (sku, qty, type, location)
    for i, ln in enumerate(lines):
        where = f"lines[{i}]"
        if ln.disposition not in (RESTOCK, DAMAGED):
            raise LedgerError("disposition must be restock or damaged", f"{where}.disposition")
        if ln.quantity <= 0:
            raise LedgerError("return quantity must be positive", f"{where}.quantity")
        asked[ln.sku] = asked.get(ln.sku, 0) + ln.quantity
        try:
            check_return(ln.sku, asked[ln.sku], shipped.get(ln.sku, 0), returned.get(ln.sku, 0))
        except LedgerError as error:
            raise LedgerError(str(error), f"{where}.quantity") from None
        if ln.disposition == DAMAGED:
            location = ln.location or DAMAGED_LOCATION
            if location == DAMAGED_LOCATION:
                repo.ensure_location(session, DAMAGED_LOCATION, NON_SELLABLE)
            loc = repo.get_location(session, location)
            if loc is None:
                raise LedgerError(f"unknown location {location!r}", f"{where}.location")
            if loc.kind != NON_SELLABLE:
                raise LedgerError(
                    f"damaged units go to a non_sellable location, {location!r} is {loc.kind}",
                    f"{where}.location",
                )
            targets.append((ln.sku, ln.quantity, RETURN_DAMAGED, location))
        else:
            location = ln.location or DEFAULT_LOCATION
            loc = repo.get_location(session, location)
            if loc is None:
                raise LedgerError(f"unknown location {location!r}", f"{where}.location")
            if loc.kind == NON_SELLABLE:
                raise LedgerError(
                    f"restocked units need a sellable location, {location!r} is non_sellable",
                    f"{where}.location",
                )
            targets.append((ln.sku, ln.quantity, RETURN, location))

    movements: list[NewMovement] = []
    components = repo.exploding_components(session, {t[0] for t in targets})
    # Units returned before (and by earlier lines) are skipped: each serial comes back once.
    used = repo.order_parts_moved(session, account_id, order_id, RETURN_TYPES)
    for sku, qty, type_, location in targets:
        for (part, origin), units in by_origin(explode([(sku, qty)], components)).items():
            shipped_from = repo.order_places_shipped(session, account_id, order_id, part, origin)
            # Skip the units earlier lines of this return already accounted for.
            skip = used.get((part, origin), 0)
            back, left = give_back(shipped_from, skip + units)
            back = _drop_first(back, skip)
            if left:
                back.append(Take(location, "", left))
            used[(part, origin)] = skip + units
            for t in back:
                movements.append(
                    NewMovement(
                        key=f"{prefix}{len(movements)}",
                        sku=part,
                        quantity=t.quantity,
                        type=type_,
                        location=location,
                        actor=actor,
                        batch=t.batch,
                        reference=reference,
                        reason=reason or f"return of order {order.order_number or order_id}",
                        account_id=account_id,
                        order_id=order_id,
                        request_sha256=digest,
                        bundle_sku=origin,
                    )
                )
    _check_serials(session, movements)
    posted = post_movements(session, movements)
    orders_repo.add_timeline(
        session,
        order.id,
        [
            {
                "at": utcnow(),
                "kind": "return",
                "detail": f"return {reference}: "
                + ", ".join(
                    f"{ln.sku} ×{ln.quantity} {ln.disposition}" + (f" → {t[3]}" if t[3] else "")
                    for ln, t in zip(lines, targets, strict=True)
                ),
                "event_id": None,
            }
        ],
    )
    return repo.movements_by_ids(session, [r.id for r in posted.rows]), True


def _check_serials(session: Session, movements: Sequence[NewMovement]) -> None:
    """A returned serial must not already be on hand (it was received again meanwhile)."""
    tracked = repo.products_by_sku(session, {m.sku for m in movements if m.batch})
    for sku, product in tracked.items():
        if product.tracking != "serial":
            continue
        codes = [m.batch for m in movements if m.sku == sku and m.batch]
        on_hand = repo.serials_on_hand(session, sku, codes)
        dup = sorted(c for c in codes if on_hand.get(c, 0) > 0)
        if dup:
            raise Conflict(f"serial {', '.join(dup)} of {sku} is already on hand")


def _drop_first(takes: list[Take], units: int) -> list[Take]:
    out = []
    for t in takes:
        if units >= t.quantity:
            units -= t.quantity
            continue
        out.append(Take(t.location, t.batch, t.quantity - units))
        units = 0
    return out


def returned_json(rows: Sequence[StockMovement]) -> list[dict[str, Any]]:
    return [
        {"sku": m.sku, "quantity": m.quantity, "type": m.type, "location": m.location} for m in rows
    ]
