"""Pure decisions of the ledger's use cases: shipments, receiving, stocktakes and transfers.

Each use case loads the state it needs (through the repository), asks one function here
what to do, and writes the answer: the movements to append and the other row changes,
or a LedgerError naming the offending field. Plain Python: no framework imports.

A decision is given a `template` movement: the fields every movement of the request
shares (actor, reference, reason, request digest, …), its key being the request's key
prefix; the decision fills in the rest.

Shipments (`decide_shipment`; app/ledger/shipping.py loads the facts and builds the
movements):

- Component demand is summed over the whole order before places are chosen.
- Units reserved for the order (`reserved`, from its allocations) are taken first; the
  rest comes from sellable places in the product's strategy order (`order_places`); a
  shortfall is still taken (the parcel has left) from the default location.
- Units coming back return to where this order's shipments took them (`give_back`),
  any rest to the default location.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from app.ledger.domain import (
    STOCKTAKE,
    TRANSFER_IN,
    TRANSFER_OUT,
    CountResult,
    LedgerError,
    NewMovement,
    judge_counts,
)
from app.ledger.strategies import Place, Take, give_back, order_places, take

# --- shipments -------------------------------------------------------------------------

Origin = tuple[str, str | None]  # (stock SKU, exploding bundle it moves for or None)


@dataclass(frozen=True)
class ShipmentFacts:
    """What the decision reads: units per origin (exploded, negative = coming back), the
    products' strategies, every place of the outgoing SKUs, and where the order's earlier
    shipments of each returning origin came from (newest first)."""

    exploded: Mapping[Origin, int]
    strategies: Mapping[str, str | None]
    places: Mapping[str, Sequence[Place]]
    shipped_from: Mapping[Origin, Sequence[Take]]


@dataclass(frozen=True)
class ShipmentDecision:
    """Takes per origin, in units (positive both ways): `outgoing` merged to one take per
    place, `returning` as given back (its serials are checked before merging)."""

    outgoing: dict[Origin, list[Take]]
    returning: dict[Origin, list[Take]]


def outgoing_by_sku(exploded: Mapping[Origin, int]) -> dict[str, list[tuple[str | None, int]]]:
    """Units leaving per stock SKU, per origin (in the exploded order)."""
    outgoing: dict[str, list[tuple[str | None, int]]] = {}
    for (sku, origin), delta in exploded.items():
        if delta > 0:
            outgoing.setdefault(sku, []).append((origin, delta))
    return outgoing


def decide_shipment(
    facts: ShipmentFacts, reserved: Mapping[str, Sequence[Take]], default_location: str
) -> ShipmentDecision:
    picks: dict[Origin, list[Take]] = {}
    for sku, parts in outgoing_by_sku(facts.exploded).items():
        places = (facts.places.get(sku, []), facts.strategies.get(sku))
        picks.update(pick_outgoing(sku, parts, reserved.get(sku, ()), places, default_location))
    outgoing: dict[Origin, list[Take]] = {}
    returning: dict[Origin, list[Take]] = {}
    for key, delta in facts.exploded.items():
        if delta > 0:
            outgoing[key] = merge(picks[key])
        else:
            back, left = give_back(facts.shipped_from.get(key, ()), -delta)
            if left:
                back.append(Take(default_location, "", left))
            returning[key] = back
    return ShipmentDecision(outgoing, returning)


def pick_outgoing(
    sku: str,
    parts: Sequence[tuple[str | None, int]],
    reserved: Sequence[Take],
    places: tuple[Sequence[Place], str | None],
    default_location: str,
) -> dict[Origin, list[Take]]:
    """The SKU's units for all its origins at once: reserved places first, then its
    `places` in its strategy's order, then the default location; handed out to each
    origin in turn."""
    total = sum(qty for _, qty in parts)
    mine = [t for t in reserved if t.quantity > 0]
    takes, left = take([_as_place(t) for t in mine], total)
    if left:  # sorted only when the reservation does not cover the units
        more, left = take(_without(order_places(*places), takes), left)
        takes += more
    if left:
        takes.append(Take(default_location, "", left))
    picks: dict[Origin, list[Take]] = {}
    for origin, qty in parts:
        share, _ = take([_as_place(t) for t in takes], qty)
        picks[(sku, origin)] = share
        takes = _minus(takes, share)
    return picks


def serials_not_twice(back: Sequence[Take], on_hand: Mapping[str, int]) -> list[Take]:
    """A voided label returns a serial only if it is not on hand again meanwhile (it was
    re-received); otherwise the unit comes back without its serial, never twice."""
    return [
        Take(t.location, "", t.quantity) if t.batch and on_hand.get(t.batch, 0) > 0 else t
        for t in back
    ]


def _as_place(t: Take) -> Place:
    return Place(t.location, t.batch, t.quantity)


def _without(places: Sequence[Place], used: Sequence[Take]) -> list[Place]:
    """Places minus units already taken there (from the order's own reservation)."""
    taken: dict[tuple[str, str], int] = {}
    for t in used:
        taken[(t.location, t.batch)] = taken.get((t.location, t.batch), 0) + t.quantity
    out = []
    for p in places:
        left = p.available - taken.get((p.location, p.batch), 0)
        if left > 0:
            out.append(
                Place(p.location, p.batch, left, p.kind, p.sequence, p.received_at, p.expiry)
            )
    return out


def _minus(takes: Sequence[Take], used: Sequence[Take]) -> list[Take]:
    out = list(takes)
    for u in used:
        left = u.quantity
        for i, t in enumerate(out):
            if left and t.location == u.location and t.batch == u.batch and t.quantity:
                n = min(left, t.quantity)
                out[i] = Take(t.location, t.batch, t.quantity - n)
                left -= n
    return [t for t in out if t.quantity]


def merge(takes: Sequence[Take]) -> list[Take]:
    """One take per (location, batch): movement keys name the place."""
    merged: dict[tuple[str, str], int] = {}
    for t in takes:
        merged[(t.location, t.batch)] = merged.get((t.location, t.batch), 0) + t.quantity
    return [Take(loc, batch, qty) for (loc, batch), qty in merged.items() if qty]


# --- receiving -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptLine:
    sku: str
    quantity: int
    batch: str | None = None
    expiry: date | None = None
    serials: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BatchCode:
    """A batch or serial a receipt names (a batch row to create if missing)."""

    sku: str
    code: str
    expiry: date | None


@dataclass(frozen=True)
class ReceiptPlan:
    codes: list[BatchCode]
    places: list[tuple[str, str, int]]  # (sku, batch, quantity), one movement each
    serials: dict[str, list[str]]  # serial codes per serial-tracked SKU


@dataclass(frozen=True)
class ExpectedLine:
    quantity: int
    received: int


@dataclass(frozen=True)
class Expected:
    """The open expected receipt a receipt is received against: its lines by SKU."""

    reference: str
    lines: Mapping[str, ExpectedLine]


@dataclass(frozen=True)
class ReceiptDecision:
    movements: list[NewMovement]
    expiries: dict[tuple[str, str], date]  # batches that get their first expiry
    received: dict[str, int]  # units to add to the expected receipt's lines
    complete: bool  # every expected line is then received in full


def plan_receipt(lines: Sequence[ReceiptLine], tracking: Mapping[str, str]) -> ReceiptPlan:
    """Check each line against its product's tracking mode; what the receipt names."""
    codes: list[BatchCode] = []
    places: list[tuple[str, str, int]] = []
    for i, ln in enumerate(lines):
        where = f"lines[{i}]"
        if ln.quantity <= 0:
            raise LedgerError("received quantity must be positive", f"{where}.quantity")
        mode = tracking[ln.sku]
        if mode == "serial":
            if len(ln.serials) != ln.quantity or len(set(ln.serials)) != len(ln.serials):
                raise LedgerError(
                    f"{ln.sku} is serial-tracked: give {ln.quantity} distinct serials",
                    f"{where}.serials",
                )
            codes += [BatchCode(ln.sku, code, ln.expiry) for code in ln.serials]
            places += [(ln.sku, code, 1) for code in ln.serials]
        elif mode == "batch":
            if not ln.batch:
                raise LedgerError(f"{ln.sku} is batch-tracked: batch is required", f"{where}.batch")
            codes.append(BatchCode(ln.sku, ln.batch, ln.expiry))
            places.append((ln.sku, ln.batch, ln.quantity))
        else:
            if ln.batch or ln.serials:
                raise LedgerError(f"{ln.sku} is not batch- or serial-tracked", f"{where}.batch")
            places.append((ln.sku, "", ln.quantity))
    return ReceiptPlan(codes, places, _serials_once(places, tracking))


def _serials_once(
    places: Sequence[tuple[str, str, int]], tracking: Mapping[str, str]
) -> dict[str, list[str]]:
    """A serial can't be received twice in one receipt."""
    seen: set[tuple[str, str]] = set()
    per_sku: dict[str, list[str]] = {}
    for sku, code, _ in places:
        if tracking[sku] != "serial":
            continue
        if (sku, code) in seen:
            raise LedgerError(f"serial {code} of {sku} appears twice", "serials")
        seen.add((sku, code))
        per_sku.setdefault(sku, []).append(code)
    return per_sku


def decide_receipt(
    plan: ReceiptPlan,
    stored_expiry: Mapping[tuple[str, str], date | None],
    expected: Expected | None,
    template: NewMovement,
) -> ReceiptDecision:
    """The receipt's movements, the batches' first expiries and the expected lines' news.

    `stored_expiry`: the expiry each named batch has (None: none yet); `expected`: None
    when the goods are received against no expected receipt.
    """
    expiries: dict[tuple[str, str], date | None] = dict(stored_expiry)
    first: dict[tuple[str, str], date] = {}
    for c in plan.codes:
        stored = expiries.get((c.sku, c.code))
        if c.expiry is not None and stored not in (None, c.expiry):
            raise LedgerError(f"batch {c.code} of {c.sku} already has expiry {stored}", "expiry")
        if c.expiry is not None and stored is None:
            expiries[(c.sku, c.code)] = first[(c.sku, c.code)] = c.expiry
    movements = [
        replace(template, key=f"{template.key}{n}", sku=sku, quantity=qty, batch=batch)
        for n, (sku, batch, qty) in enumerate(plan.places)
    ]
    received: dict[str, int] = {}
    for sku, _, qty in plan.places:
        received[sku] = received.get(sku, 0) + qty
    if expected is None:
        return ReceiptDecision(movements, first, {}, False)
    unknown = sorted(set(received) - set(expected.lines))
    if unknown:
        raise LedgerError(
            f"{', '.join(unknown)} not on expected receipt {expected.reference}", "lines"
        )
    complete = all(
        line.received + received.get(sku, 0) >= line.quantity
        for sku, line in expected.lines.items()
    )
    return ReceiptDecision(movements, first, received, complete)


# --- stocktakes ------------------------------------------------------------------------


@dataclass(frozen=True)
class StocktakeState:
    """An open stocktake: its book (when opened) and the balances now, per (sku, batch)."""

    id: int
    location: str
    book: Mapping[tuple[str, str], int]
    now: Mapping[tuple[str, str], int]
    moved_since: Collection[str]  # SKUs with movements at the location since it opened


@dataclass(frozen=True)
class StocktakeDecision:
    results: list[CountResult]
    movements: list[NewMovement]
    not_counted: list[tuple[str, str]]  # book lines the counts left out


def counted_by_key(counts: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str], int]:
    """(sku, batch, counted) → {(sku, batch): counted}; each counted once, never below 0."""
    if not counts:
        raise LedgerError("give at least one count", "counts")
    counted: dict[tuple[str, str], int] = {}
    for i, (sku, batch, qty) in enumerate(counts):
        if qty < 0:
            raise LedgerError(f"count for {sku} must not be negative", f"counts[{i}].counted")
        if (sku, batch) in counted:
            raise LedgerError(f"{sku} {batch or ''} counted twice".strip(), f"counts[{i}].sku")
        counted[(sku, batch)] = qty
    return counted


def decide_stocktake(
    state: StocktakeState, counted: Mapping[tuple[str, str], int], actor: str
) -> StocktakeDecision:
    """One `stocktake` movement per differing count of a SKU that has not moved since.

    A SKU moved if a movement since the count opened touched it, or (belt and braces: a
    movement committed late with a lower id) if any of its balances is not the book.
    """
    skus = {s for s, _ in counted}
    moved = set(state.moved_since)
    moved |= {s for (s, b), q in state.now.items() if q != state.book.get((s, b), 0)}
    moved |= {s for (s, b), q in state.book.items() if s in skus and state.now.get((s, b), 0) != q}
    results = judge_counts(dict(state.book), dict(counted), moved)
    movements = [
        NewMovement(
            key=f"stocktake:{state.id}:{r.sku}:{r.batch}",
            sku=r.sku,
            quantity=r.difference,
            type=STOCKTAKE,
            location=state.location,
            actor=actor,
            batch=r.batch,
            reference=f"stocktake-{state.id}",
            reason=f"stocktake {state.id}: counted {r.counted}, book {r.book}",
        )
        for r in results
        if r.status == "applied"
    ]
    not_counted = [key for key in state.book if key not in counted]
    return StocktakeDecision(results, movements, not_counted)


# --- transfers -------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferRequest:
    sku: str
    quantity: int
    from_location: str
    to_location: str
    batch: str  # "" for none

    def content(self) -> dict[str, object]:
        """What the request's fingerprint covers."""
        return {
            "sku": self.sku,
            "quantity": self.quantity,
            "from": self.from_location,
            "to": self.to_location,
            "batch": self.batch,
        }


def check_transfer(request: TransferRequest) -> None:
    """What is wrong with a transfer whatever the ledger holds."""
    if request.quantity <= 0:
        raise LedgerError("quantity must be positive", "quantity")
    if request.from_location == request.to_location:
        raise LedgerError("from and to must be different locations", "to")


def decide_transfer(
    request: TransferRequest,
    known_locations: Collection[str],
    tracking: str | None,
    template: NewMovement,
) -> list[NewMovement]:
    """A paired transfer_out / transfer_in; `tracking` is None for an unknown SKU."""
    for name, code in (("from", request.from_location), ("to", request.to_location)):
        if code not in known_locations:
            raise LedgerError(f"unknown location {code!r}", name)
    sku = request.sku
    if tracking is None:
        raise LedgerError(f"unknown SKU {sku!r}", "sku")
    if tracking != "none" and not request.batch:
        raise LedgerError(f"{sku} is {tracking}-tracked: batch is required", "batch")
    if tracking == "serial" and request.quantity != 1:
        raise LedgerError("a serial moves one unit at a time", "quantity")
    common = replace(template, sku=sku, batch=request.batch)
    return [
        replace(
            common,
            key=f"{template.key}out",
            quantity=-request.quantity,
            type=TRANSFER_OUT,
            location=request.from_location,
        ),
        replace(
            common,
            key=f"{template.key}in",
            quantity=request.quantity,
            type=TRANSFER_IN,
            location=request.to_location,
        ),
    ]
