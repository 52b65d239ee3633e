"""Returns against an order (order side: it reads the order and writes its timeline,
then posts ledger movements): each unit is restocked or set aside as damaged.

- `restock`: a `return` movement puts the units back into a chosen sellable location.
- `damaged`: a `return_damaged` movement puts them into a `non_sellable` location
  (`DAMAGED` unless another non-sellable one is chosen): on hand there, never available.
Batches/serials come back as the ones the order shipped. Never more than shipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.domain import NON_SELLABLE, RETURN, RETURN_TYPES, LedgerError, NewMovement
from app.ledger.models import DEFAULT_LOCATION, StockMovement
from app.ledger.receiving import NotFound, refuse_serials_on_hand
from app.ledger.requests import fingerprint, replayed
from app.ledger.service import post_movements
from app.ledger.strategies import by_origin, explode
from app.orders import repository as orders_repo
from app.orders.returns_domain import (
    DAMAGED_LOCATION,
    ReturnLine,
    ReturnState,
    decide_return,
    line_location,
)
from app.timeutil import utcnow


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
    template = NewMovement(
        key=prefix,
        sku="",
        quantity=0,
        type=RETURN,
        location="",
        actor=actor,
        reference=reference,
        reason=reason or f"return of order {order.order_number or order_id}",
        account_id=account_id,
        order_id=order_id,
        request_sha256=digest,
    )
    decision = decide_return(lines, _return_state(session, account_id, order_id, lines), template)
    serials = repo.products_by_sku(session, {m.sku for m in decision.movements if m.batch})
    refuse_serials_on_hand(session, _codes(decision.movements, serials))
    posted = post_movements(session, decision.movements)
    timeline = {"at": utcnow(), "kind": "return", "event_id": None}
    timeline["detail"] = decision.detail(reference, lines)
    orders_repo.add_timeline(session, order.id, [timeline])
    return repo.movements_by_ids(session, [r.id for r in posted.rows]), True


def _return_state(
    session: Session, account_id: str, order_id: int, lines: Sequence[ReturnLine]
) -> ReturnState:
    """What `decide_return` needs to know about the order and the lines' locations."""
    where = {line_location(ln, DEFAULT_LOCATION) for ln in lines}
    if DAMAGED_LOCATION in where:
        repo.ensure_location(session, DAMAGED_LOCATION, NON_SELLABLE)
    components = repo.exploding_components(session, {ln.sku for ln in lines})
    parts = by_origin(explode([(ln.sku, 1) for ln in lines], components))
    return ReturnState(
        shipped=repo.shipped_by_sku(session, account_id, order_id),
        returned=repo.order_net_by_sku(session, account_id, order_id, RETURN_TYPES),
        location_kinds={c: loc.kind for c, loc in repo.locations_by_code(session, where).items()},
        default_location=DEFAULT_LOCATION,
        components=components,
        parts_returned=repo.order_parts_moved(session, account_id, order_id, RETURN_TYPES),
        shipped_from={
            (part, origin): repo.order_places_shipped(session, account_id, order_id, part, origin)
            for part, origin in parts
        },
    )


def _codes(movements: Sequence[NewMovement], products: Mapping[str, Any]) -> dict[str, list[str]]:
    """A returned serial must not already be on hand (it was received again meanwhile)."""
    return {
        sku: [m.batch for m in movements if m.sku == sku and m.batch]
        for sku, product in products.items()
        if product.tracking == "serial"
    }
