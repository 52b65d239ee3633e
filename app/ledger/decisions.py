"""Pure decisions of the ledger's use cases: receiving, stocktakes and transfers.

Each use case loads the state it needs (through the repository), asks one function here
what to do, and writes the answer: the movements to append and the other row changes,
or a LedgerError naming the offending field. Plain Python: no framework imports.

A decision is given a `template` movement: the fields every movement of the request
shares (actor, reference, reason, request digest, …), its key being the request's key
prefix; the decision fills in the rest.
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
