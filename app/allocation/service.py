"""Allocation use cases: release (reserve stock for orders), deallocate, consume on
shipment, mark over-allocation, auto rules. Everything runs in the caller's transaction;
the order rows are locked before the balance rows, balance rows in (sku, location, batch)
order, so concurrent releases queue rather than deadlock or oversell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.allocation import repository as repo
from app.allocation.config import AllocationConfig
from app.allocation.decisions import (
    ReleaseDecision,
    ReleaseState,
    ReleaseTerms,
    decide_release,
    freed_units,
    status_holding,
)
from app.allocation.domain import (
    ALLOCATED,
    COULD_NOT_ALLOCATE,
    HOLDS_NOTHING,
    OVERALLOCATED,
    UNALLOCATED,
    Rule,
    first_match,
    order_facts,
)
from app.allocation.models import Allocation
from app.allocation.strategies import demand_of, line_units, overallocated_orders
from app.db import Database
from app.ledger import repository as ledger_repo
from app.ledger.strategies import Take
from app.orders import repository as orders_repo
from app.orders.domain import (
    PARTIALLY_SHIPPED,
    PENDING,
    RELEASED,
    Line,
    distribute,
)
from app.orders.models import Order, OrderLine
from app.orders.views import order_summary
from app.timeutil import utcnow

RELEASABLE = (PENDING, RELEASED, PARTIALLY_SHIPPED)
CHUNK = 500
MAX_BATCH = 50_000


class AllocationOff(Exception):
    """STOCKMIRROR_ALLOCATION=off: nothing is ever reserved."""

    def __init__(self) -> None:
        super().__init__("allocation is off (STOCKMIRROR_ALLOCATION=off): nothing is reserved")


class OrderNotFound(LookupError):
    pass


@dataclass
class Outcome:
    order_pk: int
    order_id: int
    outcome: str  # released | short | skipped
    allocation_status: str
    status: str
    shortages: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    partial: bool = False
    # The order as released (summary, lines, new allocations), so one release can answer
    # without reading the order again.
    summary: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "order_id": self.order_id,
            "outcome": self.outcome,
            "status": self.status,
            "allocation_status": self.allocation_status,
        }
        if self.shortages:
            body["shortages"] = self.shortages
        if self.partial:
            body["partial"] = True
        if self.reason:
            body["reason"] = self.reason
        return body


def _entry(kind: str, detail: str) -> dict[str, Any]:
    return {"at": utcnow(), "kind": kind, "detail": detail, "event_id": None}


def _fifo(order: Order) -> tuple[bool, datetime, int]:
    return (order.order_date is None, order.order_date or datetime.min, order.id)


def _skip_reason(order: Order, lines: Sequence[OrderLine]) -> str | None:
    if order.status not in RELEASABLE:
        return f"order is {order.status}"
    if order.allocation_status == ALLOCATED:
        return "already allocated"
    if not any(line.quantity > 0 for line in lines):
        return "order has no stock lines"
    return None


def _open_units(lines: Sequence[OrderLine], shipped: Mapping[str, int]) -> list[tuple[str, int]]:
    """(sku, units not yet shipped) per line, in line order."""
    done = distribute([Line(sku=x.sku, quantity=x.quantity) for x in lines], shipped)
    return [(repo.sku_of(x), x.quantity - s) for x, s in zip(lines, done, strict=True)]


def allocate_orders(
    session: Session,
    orders: Sequence[Order],
    *,
    allow_partial: bool,
    actor: str,
    config: AllocationConfig,
    release_id: int | None = None,
    cause: str = "release",
    prefetched: tuple[dict[int, list[OrderLine]], repo.ProductInfo] | None = None,
) -> list[Outcome]:
    """Allocate locked orders, oldest order_date first, against balances locked here.

    All or nothing per order unless `allow_partial`. Orders holding part of their stock
    (PARTIALLY_ALLOCATED, OVERALLOCATED) are re-planned from scratch.
    """
    orders = sorted(orders, key=_fifo)
    if prefetched is None:
        prefetched = repo.lines_with_products(session, [o.id for o in orders])
    lines, products = prefetched
    outcomes: dict[int, Outcome] = {}
    candidates: list[Order] = []
    for o in orders:
        reason = _skip_reason(o, lines[o.id])
        if reason:
            outcomes[o.id] = Outcome(
                o.id, o.order_id, "skipped", o.allocation_status, o.status, reason=reason
            )
        else:
            candidates.append(o)
    if candidates:
        _allocate(
            session,
            candidates,
            lines,
            products,
            allow_partial,
            actor,
            config,
            release_id,
            cause,
            outcomes,
        )
    return [outcomes[o.id] for o in orders]


def _allocate(
    session: Session,
    orders: Sequence[Order],
    lines: Mapping[int, Sequence[OrderLine]],
    products: repo.ProductInfo,
    allow_partial: bool,
    actor: str,
    config: AllocationConfig,
    release_id: int | None,
    cause: str,
    outcomes: dict[int, Outcome],
) -> None:
    """Load, decide (`decide_release`, plain Python), write."""
    now = utcnow()
    state, live = _load_release(session, orders, lines, products)
    terms = ReleaseTerms(allow_partial, config.default_strategy, actor, release_id, cause, now)
    decision = decide_release(state, terms)
    _write_release(session, orders, lines, live, decision, terms, outcomes)


def _load_release(
    session: Session,
    orders: Sequence[Order],
    lines: Mapping[int, Sequence[OrderLine]],
    products: repo.ProductInfo,
) -> tuple[ReleaseState, list[Allocation]]:
    """Open units (the ledger's shipped units for partly shipped orders), the catalogue,
    the live allocations of orders re-planned, then the balances locked in key order."""
    open_units = {
        o.id: _open_units(
            lines[o.id],
            ledger_repo.shipped_by_sku(session, o.account_id, o.order_id)
            if o.status == PARTIALLY_SHIPPED
            else {},
        )
        for o in orders
    }
    catalogue = repo.catalogue_from(session, products)
    demands = {pk: demand_of(units, catalogue.components) for pk, units in open_units.items()}
    held = [o.id for o in orders if o.allocation_status not in HOLDS_NOTHING]
    live = repo.live_allocations(session, held)
    skus = {d.sku for ds in demands.values() for d in ds} | {a.sku for a in live}
    balances = repo.lock_balances(session, skus)
    ids = {(b.sku, b.location, b.batch): b.id for b in balances}
    missing = set(freed_units(live)) - set(ids)
    if missing:  # reserved at a place that is no longer sellable
        ids.update(repo.lock_balance_keys(session, missing))
    state = ReleaseState(
        orders=orders,
        lines=lines,
        open_units=open_units,
        demands=demands,
        components=catalogue.components,
        strategies=catalogue.strategies,
        live=live,
        balances=balances,
        ids=ids,
    )
    return state, live


def _write_release(
    session: Session,
    orders: Sequence[Order],
    lines: Mapping[int, Sequence[OrderLine]],
    live: Sequence[Allocation],
    decision: ReleaseDecision,
    terms: ReleaseTerms,
    outcomes: dict[int, Outcome],
) -> None:
    """Close the re-planned allocations, mark what the bulk statements write on the
    loaded objects, answer each order, then write the release (`repo.write_release`)."""
    for a in live:
        a.remaining, a.closed_at, a.closed_reason = 0, terms.now, f"re-planned by {terms.cause}"
    if decision.lines:
        by_id = {line.id: line for pk in lines for line in lines[pk]}
        for update in decision.lines:
            repo.mark_written(by_id[update["id"]], quantity_allocated=update["q"])
    for order, d in zip(orders, decision.decided, strict=True):
        repo.mark_written(
            order, status=d.status, allocation_status=d.allocation_status, updated_at=terms.now
        )
        outcomes[order.id] = Outcome(
            order.id,
            order.order_id,
            "released" if d.released else "short",
            d.allocation_status,
            order.status,
            shortages=d.shortages,
            partial=d.partial,
            summary=order_summary(order),
            lines=d.lines,
            allocations=d.allocations,
        )
    session.flush()  # allocations cancelled for a re-plan
    repo.write_release(
        session,
        allocations=decision.allocations,
        deltas=decision.deltas,
        orders=decision.orders,
        lines=decision.lines,
        timeline=[
            {"order_pk": pk, **_entry(kind, detail)} for pk, kind, detail in decision.timeline
        ],
    )


def _add_timeline(session: Session, entries: Sequence[tuple[int, dict[str, Any]]]) -> None:
    by_order: dict[int, list[dict[str, Any]]] = {}
    for pk, entry in entries:
        by_order.setdefault(pk, []).append(entry)
    rows = [{"order_pk": pk, **e} for pk, es in by_order.items() for e in es]
    if rows:
        orders_repo.add_timeline_rows(session, rows)


# --- releasing through the API -------------------------------------------------------


def release_order(
    db: Database,
    config: AllocationConfig,
    *,
    account_id: str,
    order_id: int,
    allow_partial: bool,
    actor: str,
) -> Outcome:
    if not config.enabled:
        raise AllocationOff()

    def work(session: Session) -> Outcome:
        order, lines, products = repo.lock_order_with_lines(session, account_id, order_id)
        if order is None:
            raise OrderNotFound(f"order {order_id} not found in account {account_id!r}")
        return allocate_orders(
            session,
            [order],
            allow_partial=allow_partial,
            actor=actor,
            config=config,
            prefetched=({order.id: lines}, products),
        )[0]

    return db.run(work)


@dataclass(frozen=True)
class ReleaseFilter:
    status: tuple[str, ...] = (PENDING,)
    allocation_status: tuple[str, ...] = ()
    allocatable: bool | None = None
    platform: str | None = None
    limit: int = MAX_BATCH


@dataclass
class ReleaseResult:
    release_id: int
    results: list[Outcome]

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return {
            "release_id": self.release_id,
            "summary": counts,
            "results": [r.to_dict() for r in self.results],
        }


def release_orders(
    db: Database,
    config: AllocationConfig,
    *,
    account_id: str,
    order_ids: Sequence[int] | None = None,
    filter_: ReleaseFilter | None = None,
    allow_partial: bool,
    actor: str,
    chunk: int = CHUNK,
) -> ReleaseResult:
    """Release a list of orders or those matching a filter, oldest order_date first,
    in transactions of `chunk` orders (each all-or-nothing per order)."""
    if not config.enabled:
        raise AllocationOff()
    with db.write() as session:
        release_id = repo.new_release(
            session, account_id=account_id, actor=actor, allow_partial=allow_partial
        )
        unknown: list[int] = []
        if order_ids is not None:
            found = repo.resolve_order_ids(session, account_id, order_ids)
            known = {oid for _, oid in found}
            unknown = [oid for oid in dict.fromkeys(order_ids) if oid not in known]
            pks = [pk for pk, _ in found]
        else:
            f = filter_ or ReleaseFilter()
            pks = repo.filtered_order_pks(
                session,
                account_id,
                statuses=f.status,
                allocation_statuses=f.allocation_status,
                allocatable=f.allocatable,
                platform=f.platform,
                limit=f.limit,
            )
    results: list[Outcome] = []
    for start in range(0, len(pks), chunk):
        part = pks[start : start + chunk]

        def work(session: Session, part: Sequence[int] = part) -> list[Outcome]:
            locked = repo.lock_orders(session, part)
            return allocate_orders(
                session,
                locked,
                allow_partial=allow_partial,
                actor=actor,
                config=config,
                release_id=release_id,
                cause=f"release {release_id}",
            )

        results.extend(db.run(work))
    for oid in unknown:
        results.append(Outcome(0, oid, "skipped", UNALLOCATED, "", reason="order not found"))
    released = sum(1 for r in results if r.outcome == "released")
    with db.write() as session:
        repo.finish_release(session, release_id, len(pks) + len(unknown), released)
    return ReleaseResult(release_id, results)


# --- freeing, consuming, over-allocation ---------------------------------------------


def free_allocations(session: Session, order: Order, reason: str) -> int:
    """Cancel the order's live allocations (stock becomes available again)."""
    live = repo.live_allocations(session, [order.id])
    if live:
        per_key: dict[tuple[str, str, str], int] = {}
        for a in live:
            key = (a.sku, a.location, a.batch)
            per_key[key] = per_key.get(key, 0) + a.remaining
        ids = repo.lock_balance_keys(session, per_key)
        repo.change_allocated(session, {ids[k]: -units for k, units in per_key.items()})
        now = utcnow()
        for a in live:
            a.remaining, a.closed_at, a.closed_reason = 0, now, reason
        orders_repo.clear_lines_allocated(session, order.id)
        orders_repo.add_timeline(
            session,
            order.id,
            [_entry("allocation", f"{reason}: {sum(per_key.values())} unit(s) freed")],
        )
    order.allocation_status = UNALLOCATED
    session.flush()
    return sum(a.quantity for a in live)


def deallocate(db: Database, *, account_id: str, order_id: int, actor: str) -> Order:
    def work(session: Session) -> Order:
        order = repo.lock_order(session, account_id, order_id)
        if order is None:
            raise OrderNotFound(f"order {order_id} not found in account {account_id!r}")
        free_allocations(session, order, f"deallocated by {actor}")
        status = status_holding(order.status, 0)
        if status != order.status:
            orders_repo.add_timeline(
                session, order.id, [_entry("status", f"{order.status} → {status}")]
            )
            order.status = status
        order.updated_at = utcnow()
        session.flush()
        return order

    return db.run(work)


def live_sources(session: Session, order: Order) -> dict[str, list[Take]]:
    if order.allocation_status in HOLDS_NOTHING:
        return {}
    out: dict[str, list[Take]] = {}
    for a in repo.live_allocations(session, [order.id]):
        sources = out.setdefault(a.sku, [])
        if sources and (sources[-1].location, sources[-1].batch) == (a.location, a.batch):
            last = sources.pop()
            sources.append(Take(a.location, a.batch, last.quantity + a.remaining))
        else:
            sources.append(Take(a.location, a.batch, a.remaining))
    return out


def consume(session: Session, order: Order, shipped_by_sku: Mapping[str, int]) -> None:
    """Shipped units (cumulative target per line SKU) consume the allocations covering
    the units that leave with this shipment."""
    if order.allocation_status in HOLDS_NOTHING:
        return
    live = repo.live_allocations(session, [order.id])
    if not live:
        return
    # Called before this shipment's movements are posted: the ledger still holds what
    # left earlier, so the difference is what leaves now (whatever was shipped before
    # the order was released).
    before = ledger_repo.shipped_by_sku(session, order.account_id, order.order_id)
    groups: dict[tuple[str, str], list[Allocation]] = {}
    for a in live:
        groups.setdefault((a.line_sku, a.sku), []).append(a)
    per_key: dict[tuple[str, str, str], int] = {}
    for (line_sku, _sku), allocs in groups.items():
        now_shipped = shipped_by_sku.get(line_sku, 0) - before.get(line_sku, 0)
        need = now_shipped * allocs[0].per_unit
        for a in allocs:
            if need <= 0:
                break
            take = min(need, a.remaining)
            a.remaining -= take
            a.consumed += take
            need -= take
            if a.remaining == 0:
                a.closed_at, a.closed_reason = utcnow(), "shipped"
            key = (a.sku, a.location, a.batch)
            per_key[key] = per_key.get(key, 0) + take
    if not per_key:
        return
    ids = repo.lock_balance_keys(session, per_key)
    repo.change_allocated(session, {ids[k]: -units for k, units in per_key.items()})
    session.flush()
    left = [a for a in live if a.remaining > 0]
    if not left:
        order.allocation_status = UNALLOCATED
    refresh_lines(session, order, shipped=shipped_by_sku, live=left)
    orders_repo.add_timeline(
        session,
        order.id,
        [
            _entry(
                "allocation",
                "shipment consumed "
                + ", ".join(f"{k[0]} ×{n} at {k[1]}" for k, n in sorted(per_key.items())),
            )
        ],
    )


def refresh_lines(
    session: Session,
    order: Order,
    *,
    shipped: Mapping[str, int] | None = None,
    live: Sequence[Allocation] | None = None,
) -> None:
    """Recompute each line's quantity_allocated from the live allocations."""
    lines = repo.lines_for(session, [order.id])[order.id]
    if live is None:
        live = repo.live_allocations(session, [order.id])
    if shipped is None:
        shipped = ledger_repo.shipped_by_sku(session, order.account_id, order.order_id)
    reserved: dict[tuple[str, str], int] = {}
    for a in live:
        reserved[(a.line_sku, a.sku)] = reserved.get((a.line_sku, a.sku), 0) + a.remaining
    catalogue = repo.catalogue_for(session, {repo.sku_of(x) for x in lines})
    units = line_units(_open_units(lines, shipped), reserved, catalogue.components)
    for line, n in zip(lines, units, strict=True):
        if line.quantity_allocated != n:
            line.quantity_allocated = n
    session.flush()


def mark_overallocated(session: Session, keys: Sequence[tuple[str, str, str]]) -> list[int]:
    """Balances whose on hand fell below allocated mark the orders holding them
    OVERALLOCATED, newest order first, until they cover the excess. Nothing is freed."""
    excess = repo.overallocated_balances(session, keys)
    if not excess:
        return []
    holders = repo.live_at_balances(session, excess)
    marked: dict[int, list[str]] = {}
    for key, amount in sorted(excess.items()):
        rows = holders.get(key, [])
        for pk in overallocated_orders(amount, [(pk, units) for pk, units, _ in rows]):
            marked.setdefault(pk, []).append(
                f"{key[0]} at {key[1]}{' batch ' + key[2] if key[2] else ''} "
                f"is over-allocated by {amount}"
            )
    orders = repo.orders_by_pk(session, sorted(marked))
    timeline = []
    for order in orders:
        if order.allocation_status in HOLDS_NOTHING:
            continue
        if order.allocation_status != OVERALLOCATED:
            timeline.append(
                (
                    order.id,
                    _entry(
                        "allocation",
                        f"{order.allocation_status} → OVERALLOCATED: "
                        + "; ".join(marked[order.id]),
                    ),
                )
            )
            order.allocation_status = OVERALLOCATED
            order.updated_at = utcnow()
    session.flush()
    _add_timeline(session, timeline)
    return [pk for pk, _ in timeline]


# --- auto rules ----------------------------------------------------------------------


def active_rules(session: Session, config: AllocationConfig) -> list[Rule]:
    stored = [
        Rule(
            id=str(r.id),
            name=r.name,
            account_id=r.account_id,
            platform=r.platform,
            country=r.country,
            allow_partial=r.allow_partial,
            enabled=r.enabled,
            source="api",
        )
        for r in repo.rules(session)
    ]
    return [*config.file_rules, *stored]


def auto_allocate(session: Session, order: Order, config: AllocationConfig) -> None:
    """STOCKMIRROR_ALLOCATION=auto: allocate a new or changed order when a rule matches
    (with no rule configured at all, every order matches). Decisions go on the timeline."""
    if order.shipped_at is not None or order.status not in (PENDING, RELEASED):
        return
    if order.allocation_status not in (UNALLOCATED, COULD_NOT_ALLOCATE):
        return
    rules = active_rules(session, config)
    facts = order_facts(order.account_id, order.platform, order.destination)
    rule = first_match(rules, facts) if rules else Rule(id="default", name="all orders")
    if rule is None:
        described = ", ".join(f"{k}={v}" for k, v in facts.items())
        orders_repo.add_timeline(
            session, order.id, [_entry("allocation", f"auto: no rule matched ({described})")]
        )
        return
    allocate_orders(
        session,
        [order],
        allow_partial=rule.allow_partial,
        actor="auto",
        config=config,
        cause=f"auto: {rule.describe()} matched",
    )


def order_shortages(session: Session, orders: Sequence[Order]) -> dict[int, list[dict[str, Any]]]:
    """Insufficient-inventory flag: per order not fully allocated, the short SKUs."""
    wanted = [
        o.id for o in orders if o.status in (PENDING, RELEASED) and o.allocation_status != ALLOCATED
    ]
    short = repo.shortages_for(session, wanted)
    return {
        pk: [{"sku": s, "needed": n, "available": max(a, 0)} for s, n, a in rows]
        for pk, rows in short.items()
    }
