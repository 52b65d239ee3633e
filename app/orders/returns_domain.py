"""What a return against an order writes (pure: no framework imports).

`decide_return` takes the return's lines and the state `receive_return` loaded (what the
order shipped and already got back, the locations named, bundle definitions, where the
order's shipments took each part) and answers the movements, or a LedgerError naming
the offending line's field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from app.ledger.domain import (
    NON_SELLABLE,
    RETURN,
    RETURN_DAMAGED,
    LedgerError,
    NewMovement,
    check_return,
)
from app.ledger.strategies import Take, by_origin, explode, give_back

DAMAGED_LOCATION = "DAMAGED"
RESTOCK, DAMAGED = "restock", "damaged"


@dataclass(frozen=True)
class ReturnLine:
    sku: str
    quantity: int
    disposition: str
    location: str | None = None


@dataclass(frozen=True)
class ReturnState:
    """What a return is decided over, all for one order."""

    shipped: Mapping[str, int]  # units shipped per order SKU (bundles whole)
    returned: Mapping[str, int]  # units already returned per order SKU
    location_kinds: Mapping[str, str]  # kind of each location the lines name that exists
    default_location: str  # where restocked units go when a line names no location
    components: dict[str, list[tuple[str, int]]]  # exploding bundle → its parts
    # Per (part, bundle it shipped for or None): units already returned, and where the
    # order's shipments took it (newest place first).
    parts_returned: Mapping[tuple[str, str | None], int]
    shipped_from: Mapping[tuple[str, str | None], Sequence[Take]]


@dataclass(frozen=True)
class Target:
    sku: str
    quantity: int
    type: str
    location: str


@dataclass(frozen=True)
class ReturnDecision:
    movements: list[NewMovement]
    targets: list[Target]  # one per line

    def detail(self, reference: str, lines: Sequence[ReturnLine]) -> str:
        """The order timeline's sentence for the return."""
        return f"return {reference}: " + ", ".join(
            f"{ln.sku} ×{ln.quantity} {ln.disposition}" + (f" → {t.location}" if t.location else "")
            for ln, t in zip(lines, self.targets, strict=True)
        )


def line_location(line: ReturnLine, default_location: str) -> str:
    """Where a line's units go: its location, else DAMAGED or the default location."""
    if line.location:
        return line.location
    return DAMAGED_LOCATION if line.disposition == DAMAGED else default_location


def decide_return(
    lines: Sequence[ReturnLine], state: ReturnState, template: NewMovement
) -> ReturnDecision:
    """Movements bringing each line's units back (`template`: what they all share, its
    key the request's key prefix). Never more than shipped minus already returned."""
    asked: dict[str, int] = {}
    targets = [_target(i, ln, asked, state) for i, ln in enumerate(lines)]
    used = dict(state.parts_returned)
    movements: list[NewMovement] = []
    for target in targets:
        for (part, origin), units in by_origin(
            explode([(target.sku, target.quantity)], state.components)
        ).items():
            skip = used.get((part, origin), 0)
            shipped_from = state.shipped_from.get((part, origin), ())
            used[(part, origin)] = skip + units
            for t in units_coming_back(shipped_from, skip, units, target.location):
                movements.append(
                    replace(
                        template,
                        key=f"{template.key}{len(movements)}",
                        sku=part,
                        quantity=t.quantity,
                        type=target.type,
                        location=target.location,
                        batch=t.batch,
                        bundle_sku=origin,
                    )
                )
    return ReturnDecision(movements, targets)


def units_coming_back(
    shipped_from: Sequence[Take], skip: int, units: int, location: str
) -> list[Take]:
    """`units` coming back, after `skip` units already came back: the shipment records
    (`shipped_from`, newest first) past the first `skip` units name their batches or
    serials; units beyond the records come back without one, at `location`.

    Always exactly `units` units, however few units the records cover.
    """
    back, _ = give_back(shipped_from, skip + units)
    back = _drop_first(back, skip)
    beyond = units - sum(t.quantity for t in back)
    if beyond > 0:
        back.append(Take(location, "", beyond))
    return back


def _drop_first(takes: list[Take], units: int) -> list[Take]:
    out = []
    for t in takes:
        if units >= t.quantity:
            units -= t.quantity
            continue
        out.append(Take(t.location, t.batch, t.quantity - units))
        units = 0
    return out


def _target(i: int, ln: ReturnLine, asked: dict[str, int], state: ReturnState) -> Target:
    """Check line `i` (`asked`: units of each SKU the lines before it return)."""
    where = f"lines[{i}]"
    if ln.disposition not in (RESTOCK, DAMAGED):
        raise LedgerError("disposition must be restock or damaged", f"{where}.disposition")
    if ln.quantity <= 0:
        raise LedgerError("return quantity must be positive", f"{where}.quantity")
    asked[ln.sku] = asked.get(ln.sku, 0) + ln.quantity
    try:
        check_return(
            ln.sku, asked[ln.sku], state.shipped.get(ln.sku, 0), state.returned.get(ln.sku, 0)
        )
    except LedgerError as error:
        raise LedgerError(str(error), f"{where}.quantity") from None
    location = line_location(ln, state.default_location)
    kind = state.location_kinds.get(location)
    if kind is None:
        raise LedgerError(f"unknown location {location!r}", f"{where}.location")
    if ln.disposition == DAMAGED and kind != NON_SELLABLE:
        raise LedgerError(
            f"damaged units go to a non_sellable location, {location!r} is {kind}",
            f"{where}.location",
        )
    if ln.disposition == RESTOCK and kind == NON_SELLABLE:
        raise LedgerError(
            f"restocked units need a sellable location, {location!r} is non_sellable",
            f"{where}.location",
        )
    return Target(
        ln.sku, ln.quantity, RETURN_DAMAGED if ln.disposition == DAMAGED else RETURN, location
    )
