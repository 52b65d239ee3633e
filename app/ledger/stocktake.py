"""Stocktakes: open a count (the book is recorded), submit counts, post the differences.

Each differing SKU gets one `stocktake` movement for counted − book. A SKU that moved at
the location after the count was opened is reported (`moved`), not applied: its book is
stale. Lines keep book, counted and difference for the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo
from app.ledger.decisions import StocktakeState, counted_by_key, decide_stocktake
from app.ledger.domain import LedgerError
from app.ledger.models import Stocktake, StocktakeLine
from app.ledger.receiving import Conflict, NotFound
from app.ledger.service import NegativeStockRefused, post_movements
from app.timeutil import isoformat, utcnow

CHUNK = 1000  # SKUs per statement when a stocktake names its SKUs


def open_stocktake(
    session: Session, *, location: str, skus: Sequence[str] | None, actor: str
) -> Stocktake:
    if repo.get_location(session, location) is None:
        raise LedgerError(f"unknown location {location!r}", "location")
    # The id first, then the book: a movement between the two shows up as `moved`.
    last_id = repo.max_movement_id(session)
    if skus is None:
        book = repo.balances_at(session, location, None)
    else:
        wanted = sorted(set(skus))
        book = {}
        for start in range(0, len(wanted), CHUNK):  # linear, and under parameter limits
            part = wanted[start : start + CHUNK]
            book.update(repo.balances_at(session, location, part))
            repo.ensure_products(session, part)
        counted = {s for s, _ in book}
        book.update({(sku, ""): 0 for sku in wanted if sku not in counted})
    stocktake = Stocktake(
        location=location, status="open", last_movement_id=last_id, actor=actor, opened_at=utcnow()
    )
    return repo.add_stocktake(session, stocktake, book)


def submit_counts(
    session: Session,
    stocktake_id: int,
    counts: Sequence[tuple[str, str, int]],
    *,
    actor: str,
    negative_policy: str = "flag",
) -> Stocktake:
    """Apply (sku, batch, counted) to an open stocktake; it is closed afterwards."""
    del negative_policy  # counts are never negative, so a count never goes below zero
    stocktake = repo.get_stocktake(session, stocktake_id, lock=True)
    if stocktake is None:
        raise NotFound(f"stocktake {stocktake_id} not found")
    if stocktake.status != "open":
        raise Conflict(f"stocktake {stocktake_id} was already submitted")
    counted = counted_by_key(counts)
    repo.ensure_products(session, {s for s, _ in counted})
    lines = {(ln.sku, ln.batch): ln for ln in repo.stocktake_lines(session, stocktake_id)}
    skus = sorted({s for s, _ in counted})
    moved = repo.skus_moved_since(session, stocktake.location, skus, stocktake.last_movement_id)
    state = StocktakeState(
        id=stocktake.id,
        location=stocktake.location,
        book={key: ln.book for key, ln in lines.items()},
        now=repo.balances_at(session, stocktake.location, skus),
        moved_since=moved,
    )
    decision = decide_stocktake(state, counted, actor)
    posted = post_movements(session, decision.movements)
    movement_ids = {(row.sku, row.batch): row.id for row in posted.rows}
    for r in decision.results:
        line = lines.get((r.sku, r.batch))
        if line is None:
            line = StocktakeLine(stocktake_id=stocktake.id, sku=r.sku, batch=r.batch, book=0)
            repo.add(session, line)
        line.counted = r.counted
        line.status = r.status
        line.movement_id = movement_ids.get((r.sku, r.batch))
    for key in decision.not_counted:
        lines[key].status = "not_counted"
    stocktake.status = "submitted"
    stocktake.submitted_at = utcnow()
    repo.flush(session)
    for (sku, loc, _), on_hand in posted.on_hand.items():
        if on_hand < 0:  # only a stale count could do this, and those are not applied
            raise NegativeStockRefused(sku, loc, on_hand)
    return stocktake


def stocktake_json(session: Session, stocktake: Stocktake) -> dict[str, Any]:
    lines = repo.stocktake_lines(session, stocktake.id)
    return {
        "id": stocktake.id,
        "location": stocktake.location,
        "status": stocktake.status,
        "opened_at": isoformat(stocktake.opened_at),
        "submitted_at": isoformat(stocktake.submitted_at),
        "actor": stocktake.actor,
        "lines": [
            {
                "sku": ln.sku,
                "batch": ln.batch or None,
                "book": ln.book,
                "counted": ln.counted,
                "difference": None if ln.counted is None else ln.counted - ln.book,
                "status": ln.status,
                "movement_id": ln.movement_id,
            }
            for ln in lines
        ],
        "moved": [ln.sku for ln in lines if ln.status == "moved"],
    }


def get_stocktake(session: Session, stocktake_id: int) -> Stocktake:
    stocktake = repo.get_stocktake(session, stocktake_id)
    if stocktake is None:
        raise NotFound(f"stocktake {stocktake_id} not found")
    return stocktake
