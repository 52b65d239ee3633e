"""Named read-model queries of the console pages. Each opens one short read transaction
and returns plain data; rules (shortages, shipped units, stock states, pick lists) come
from the feature packages, never written again here."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.allocation import repository as allocation_repo
from app.allocation.domain import COULD_NOT_ALLOCATE, OVERALLOCATED, PARTIALLY_ALLOCATED
from app.allocation.service import order_shortages
from app.allocation.views import decorate_detail, picklist, summaries_with_shortages
from app.db import Database
from app.ledger.domain import SHIPMENT_TYPES
from app.ledger.models import Product, StockBalance, StockMovement
from app.ledger.service import StockView, stock_views
from app.orders import repository as orders_repo
from app.orders.domain import OrderStatus
from app.orders.models import Order, OrderLine
from app.orders.views import order_detail
from app.reconcile import review_repository as review_repo
from app.reconcile.models import ReconciliationRun
from app.timeutil import as_utc
from app.webhooks import inbox
from app.webhooks.models import InboxEvent

OPEN_STAGES = (OrderStatus.PENDING, OrderStatus.RELEASED, OrderStatus.PARTIALLY_SHIPPED)
AGE_BUCKETS = (("under 1 day", 1), ("1–2 days", 3), ("3–6 days", 7), ("7 days or more", None))
OLD_PENDING = timedelta(days=3)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- orders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilter:
    statuses: tuple[str, ...] = ()
    allocation_statuses: tuple[str, ...] = ()
    platform: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive
    order_number: str | None = None
    allocatable: bool = False


@dataclass
class OrderPage:
    rows: list[dict[str, Any]]
    total: int | None  # None: not counted (allocatable only)
    next_cursor: str | None


Key = tuple[datetime | None, int]  # (order_date, id) of the last order shown


def _cursor_key(cursor: str | None) -> Key | None:
    """The keyset position a page cursor names (oldest first, undated orders last)."""
    if not cursor:
        return None
    kind, _, rest = cursor.partition(":")
    if kind == "n":
        return None, _pk(rest)
    if kind != "d":
        raise ValueError("unknown cursor")
    micros, _, pk = rest.partition("~")
    return EPOCH + timedelta(microseconds=int(micros)), _pk(pk)


def _next_orders(session: Any, stmt: sa.Select, key: Key | None, limit: int) -> list[Order]:
    """Up to `limit` orders of `stmt` after `key`: dated orders by an index range on
    (order_date, id), then the undated ones by id."""
    if key is None:
        return list(session.scalars(stmt.limit(limit)))
    at, pk = key
    found: list[Order] = []
    if at is not None:
        dated = stmt.where(
            Order.order_date.is_not(None), sa.tuple_(Order.order_date, Order.id) > (at, pk)
        )
        found = list(session.scalars(dated.limit(limit)))
        pk = 0
    if len(found) < limit:
        undated = stmt.where(Order.order_date.is_(None), Order.id > pk)
        found += list(session.scalars(undated.limit(limit - len(found))))
    return found


def _pk(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise ValueError("not a row id")
    return value


def cursor_of(order: Order) -> str:
    if order.order_date is None:
        return f"n:{order.id}"
    micros = (as_utc(order.order_date) - EPOCH) // timedelta(microseconds=1)
    return f"d:{micros}~{order.id}"


def valid_cursor(cursor: str) -> bool:
    try:
        _cursor_key(cursor)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _filtered_orders(account_id: str, flt: OrderFilter) -> sa.Select:
    stmt = orders_repo.orders_query(account_id, flt.statuses, flt.allocation_statuses)
    if flt.platform:
        stmt = stmt.where(Order.platform == flt.platform)
    if flt.date_from is not None:
        stmt = stmt.where(Order.order_date >= flt.date_from)
    if flt.date_to is not None:
        stmt = stmt.where(Order.order_date < flt.date_to)
    if flt.order_number:
        stmt = stmt.where(Order.order_number == flt.order_number)
    if flt.allocatable:
        stmt = stmt.where(allocation_repo.allocatable_candidate_clause())
    return stmt


def order_page(
    db: Database, account_id: str, flt: OrderFilter, cursor: str | None, per_page: int
) -> OrderPage:
    """One page of orders, oldest first, keyset-paginated. With `allocatable`, candidates
    are read in batches and each batch is checked with the allocation rule, until the
    page is full or ALLOCATABLE_SCAN candidates were looked at (the total is then not
    counted: None)."""
    stmt = _filtered_orders(account_id, flt)
    key = _cursor_key(cursor)
    with db.read() as session:
        if flt.allocatable:
            orders, more = _allocatable_page(session, stmt, key, per_page)
            total = None
        else:
            total = session.scalar(
                sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
            )
            orders = _next_orders(session, stmt, key, per_page + 1)
            more = len(orders) > per_page
            orders = orders[:per_page]
        rows = summaries_with_shortages(session, orders)
    for row, order in zip(rows, orders, strict=True):
        row["order_date_at"] = order.order_date
    next_cursor = cursor_of(more) if isinstance(more, Order) else None
    if more is True and orders:
        next_cursor = cursor_of(orders[-1])
    return OrderPage(rows, None if total is None else int(total), next_cursor)


ALLOCATABLE_BATCH = 200
ALLOCATABLE_SCAN = 2000


def _allocatable_page(
    session: Any, stmt: sa.Select, key: Key | None, per_page: int
) -> tuple[list[Order], Any]:
    """(allocatable orders, what comes next): True when the page filled up with more
    after it, the last candidate looked at when the scan stopped early, else False."""
    found: list[Order] = []
    last: Order | None = None
    scanned = 0
    while scanned < ALLOCATABLE_SCAN:
        after = key if last is None else (last.order_date, last.id)
        batch = _next_orders(session, stmt, after, ALLOCATABLE_BATCH)
        if not batch:
            return found, False
        scanned += len(batch)
        last = batch[-1]
        ok = allocation_repo.allocatable_among(session, [o.id for o in batch])
        for order in batch:
            if order.id in ok:
                if len(found) == per_page:
                    return found, True
                found.append(order)
        if len(batch) < ALLOCATABLE_BATCH:
            return found, False
    return found, last


@dataclass
class OrderView:
    order: Order
    body: dict[str, Any]
    timeline: list[dict[str, Any]]
    picklist: list[dict[str, Any]]


def order_view(db: Database, account_id: str, order_number: str) -> OrderView | None:
    with db.read() as session:
        order = orders_repo.find_order_by_number(session, account_id, order_number)
        if order is None:
            return None
        body = decorate_detail(session, order, order_detail(session, order))
        shipments = list(
            session.scalars(
                sa.select(StockMovement)
                .where(
                    StockMovement.account_id == order.account_id,
                    StockMovement.order_id == order.order_id,
                    StockMovement.type.in_(SHIPMENT_TYPES),
                )
                .order_by(StockMovement.id)
            )
        )
        picks = picklist(allocation_repo.pick_rows(session, order_pk=order.id))
    return OrderView(order, body, _worded_timeline(body["timeline"], shipments), picks)


def _worded_timeline(
    entries: Sequence[dict[str, Any]], shipments: Sequence[StockMovement]
) -> list[dict[str, Any]]:
    """Timeline entries, each shipment or voided label paired with its movement (same
    event, in order) and the order's shipped units of that SKU after it."""
    shipped: dict[str, int] = {}
    after: dict[int, int] = {}
    by_event: dict[str | None, list[StockMovement]] = {}
    for m in shipments:
        shipped[m.sku] = shipped.get(m.sku, 0) - m.quantity
        after[m.id] = shipped[m.sku]
        by_event.setdefault(m.event_id, []).append(m)
    out = []
    for entry in entries:
        item = dict(entry)
        queue = by_event.get(entry.get("event_id"), [])
        if entry["kind"] in SHIPMENT_TYPES and queue:
            m = queue.pop(0)
            item["movement"] = {
                "id": m.id,
                "sku": m.sku,
                "location": m.location,
                "units": abs(m.quantity),
                "shipped_after": after[m.id],
            }
        out.append(item)
    return out


@dataclass
class ReleasePicks:
    release_id: int
    created_at: datetime
    released: int
    lines: list[dict[str, Any]]


def release_picklist(db: Database, account_id: str, release_id: int) -> ReleasePicks | None:
    with db.read() as session:
        release = allocation_repo.get_release(session, release_id)
        if release is None or release.account_id != account_id:
            return None
        lines = picklist(allocation_repo.pick_rows(session, release_id=release.id))
        return ReleasePicks(release.id, release.created_at, release.released, lines)


# --- stock ------------------------------------------------------------------------------


@dataclass
class StockPage:
    views: list[StockView]
    next_after: str | None


def stock_page(
    db: Database, *, prefix: str | None, flag: str | None, after: str | None, per_page: int
) -> StockPage:
    stmt = sa.select(Product.sku).order_by(Product.sku)
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Product.sku.like(escaped + "%", escape="\\"))
    if flag == "negative":
        negative = (
            sa.select(StockBalance.sku)
            .group_by(StockBalance.sku)
            .having(sa.func.sum(StockBalance.on_hand) < 0)
        )
        stmt = stmt.where(Product.sku.in_(negative))
    elif flag == "overallocated":
        over = sa.select(StockBalance.sku).where(StockBalance.allocated > StockBalance.on_hand)
        stmt = stmt.where(Product.sku.in_(over))
    if after:
        stmt = stmt.where(Product.sku > after)
    with db.read() as session:
        skus = list(session.scalars(stmt.limit(per_page + 1)))
        views = stock_views(session, skus[:per_page])
    return StockPage(views, skus[per_page - 1] if len(skus) > per_page else None)


@dataclass
class WalkStep:
    movement: StockMovement
    balance: int  # the SKU's on hand (all locations) right after this movement
    order_number: str | None


@dataclass
class SkuWalk:
    view: StockView
    steps: list[WalkStep]
    next_before: int | None
    movements: int
    locations: list[Any] = field(default_factory=list)


def sku_walk(db: Database, sku: str, before: int | None, per_page: int) -> SkuWalk | None:
    """The SKU's stock and its ledger, newest first, with the running balance after
    each movement: on hand now minus every later movement."""
    m = StockMovement
    with db.read() as session:
        views = stock_views(session, [sku])
        if not views:
            return None
        # Ordered by id + 0: read this SKU's rows by ix_stock_movements_sku_id and sort
        # them (cost bounded by the SKU's own movements), never walk the whole ledger
        # backwards by primary key looking for them (PostgreSQL's plan for a SKU whose
        # older movements are few: 200 ms on 1,000,000 movements).
        stmt = sa.select(m).where(m.sku == sku).order_by((m.id + 0).desc())
        if before is not None:
            stmt = stmt.where(m.id < before)
        page = list(session.scalars(stmt.limit(per_page + 1)))
        more = len(page) > per_page
        page = page[:per_page]
        count = int(session.scalar(sa.select(sa.func.count()).where(m.sku == sku)) or 0)
        balance = _balance_after(session, sku, page[0].id, views[0].on_hand, count) if page else 0
        numbers = _order_numbers(session, page)
    steps = []
    for movement in page:
        steps.append(
            WalkStep(movement, balance, numbers.get((movement.account_id, movement.order_id)))
        )
        balance -= movement.quantity
    return SkuWalk(views[0], steps, page[-1].id if more and page else None, count)


def _balance_after(session: Any, sku: str, movement_id: int, on_hand: int, count: int) -> int:
    """The SKU's on hand right after a movement: Σ of the movements up to it, or on hand
    now minus the later ones, whichever side has fewer movements to add up."""
    m = StockMovement
    later_count = int(
        session.scalar(sa.select(sa.func.count()).where(m.sku == sku, m.id > movement_id)) or 0
    )
    total = sa.func.coalesce(sa.func.sum(m.quantity), 0)
    if later_count <= count - later_count:
        later = session.scalar(sa.select(total).where(m.sku == sku, m.id > movement_id))
        return on_hand - int(later or 0)
    return int(session.scalar(sa.select(total).where(m.sku == sku, m.id <= movement_id)) or 0)


def _order_numbers(session: Any, movements: Sequence[StockMovement]) -> dict[Any, str | None]:
    keys = {(x.account_id, x.order_id) for x in movements if x.order_id is not None}
    if not keys:
        return {}
    stmt = sa.select(Order.account_id, Order.order_id, Order.order_number).where(
        sa.tuple_(Order.account_id, Order.order_id).in_(sorted(keys))
    )
    return {(a, o): n for a, o, n in session.execute(stmt)}


def movement(db: Database, movement_id: int) -> WalkStep | None:
    m = StockMovement
    with db.read() as session:
        found = session.get(m, movement_id)
        if found is None:
            return None
        numbers = _order_numbers(session, [found])
        views = stock_views(session, [found.sku])
        count = int(session.scalar(sa.select(sa.func.count()).where(m.sku == found.sku)) or 0)
        on_hand = views[0].on_hand if views else 0
        balance = _balance_after(session, found.sku, found.id, on_hand, count)
    return WalkStep(found, balance, numbers.get((found.account_id, found.order_id)))


# --- events -----------------------------------------------------------------------------


@dataclass
class EventPage:
    events: list[InboxEvent]
    total: int


def waiting_events(db: Database, page: int, per_page: int) -> EventPage:
    stmt = inbox.events_query(None, ("parked", "pending"))
    with db.read() as session:
        total = session.scalar(
            sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        )
        events = list(session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)))
    return EventPage(events, int(total or 0))


# --- overview ---------------------------------------------------------------------------


@dataclass
class Overview:
    backlog: dict[str, list[int]]  # stage → count per AGE_BUCKETS
    demand: list[dict[str, Any]]
    at_risk: dict[str, int]
    old_pending: list[Order]
    overallocated: list[Order]
    short: list[dict[str, Any]]
    last_run: ReconciliationRun | None
    last_run_value: Any
    demand_at: datetime | None = None
    buckets: tuple[str, ...] = tuple(label for label, _ in AGE_BUCKETS)


def _age_case(now: datetime) -> Any:
    when = sa.func.coalesce(Order.order_date, Order.created_at)
    cases = []
    for n, (_, days) in enumerate(AGE_BUCKETS):
        if days is not None:
            cases.append((when > now - timedelta(days=days), n))
    return sa.case(*cases, else_=len(AGE_BUCKETS) - 1)


def overview(db: Database, account_id: str, now: datetime, demand_rows: int = 12) -> Overview:
    with db.read() as session:
        backlog, at_risk = _open_orders(session, account_id, now)
        old: list[Order] = []
        over: list[Order] = []
        short_orders: list[Order] = []
        if at_risk["old_pending"]:
            old = list(
                session.scalars(
                    orders_repo.orders_query(account_id, [OrderStatus.PENDING], None)
                    .where(Order.order_date < now - OLD_PENDING)
                    .limit(5)
                )
            )
        if at_risk["overallocated"]:
            over = list(
                session.scalars(
                    orders_repo.orders_query(account_id, OPEN_STAGES, [OVERALLOCATED]).limit(5)
                )
            )
        if at_risk["short"]:
            short_orders = list(
                session.scalars(orders_repo.orders_query(account_id, *SHORT).limit(5))
            )
        shortages = order_shortages(session, short_orders)
        short = [{"order": o, "shortages": shortages.get(o.id, [])} for o in short_orders]
        demand, demand_at = _recent_demand(db, session, account_id, demand_rows, now)
        last = session.scalars(
            sa.select(ReconciliationRun)
            .where(ReconciliationRun.account_id == account_id)
            .order_by(ReconciliationRun.id.desc())
            .limit(1)
        ).first()
        value = review_repo.value_by_run(session, [last.id]).get(last.id) if last else None
    return Overview(backlog, demand, at_risk, old, over, short, last, value, demand_at)


SHORT = ((OrderStatus.PENDING, OrderStatus.RELEASED), (COULD_NOT_ALLOCATE, PARTIALLY_ALLOCATED))


def _open_orders(
    session: Any, account_id: str, now: datetime
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Open orders per stage and age bucket, and the at-risk counts, from one grouped
    scan of (status, allocation status, age bucket). Old pending = pending for 3 days or
    more (the last two age buckets)."""
    backlog: dict[str, list[int]] = {stage: [0] * len(AGE_BUCKETS) for stage in OPEN_STAGES}
    risk = {"old_pending": 0, "overallocated": 0, "short": 0}
    age = _age_case(now).label("age")
    rows = session.execute(
        sa.select(Order.status, Order.allocation_status, age, sa.func.count())
        .where(Order.account_id == account_id, Order.status.in_(OPEN_STAGES))
        .group_by(Order.status, Order.allocation_status, age)
    )
    for stage, allocation, bucket, n in rows:
        backlog[stage][int(bucket)] += int(n)
        if stage == OrderStatus.PENDING and int(bucket) >= 2:
            risk["old_pending"] += int(n)
        if allocation == OVERALLOCATED:
            risk["overallocated"] += int(n)
        if stage in SHORT[0] and allocation in SHORT[1]:
            risk["short"] += int(n)
    return backlog, risk


DEMAND_TTL = timedelta(seconds=30)
_DEMAND: weakref.WeakKeyDictionary[Database, dict[tuple[str, int], tuple[datetime, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _recent_demand(
    db: Database, session: Any, account_id: str, limit: int, now: datetime
) -> tuple[list[dict[str, Any]], datetime]:
    """Demand against stock as worked out at most DEMAND_TTL ago in this process (it adds
    up every open order line: the slowest part of the overview), and when it was."""
    cache = _DEMAND.setdefault(db, {})
    kept = cache.get((account_id, limit))
    if kept is not None and now - kept[0] < DEMAND_TTL:
        return kept[1], kept[0]
    rows = _demand_against_available(session, account_id, limit)
    cache[(account_id, limit)] = (now, rows)
    return rows, now


def _demand_against_available(session: Any, account_id: str, limit: int) -> list[dict[str, Any]]:
    """Units ordered but not yet reserved (pending and released orders) per SKU against
    what is available to sell, the SKUs furthest short first."""
    wanted = sa.func.sum(OrderLine.quantity - OrderLine.quantity_allocated)
    demand = (
        sa.select(OrderLine.sku.label("sku"), wanted.label("demand"))
        .join(Order, Order.id == OrderLine.order_pk)
        .where(
            Order.account_id == account_id,
            Order.status.in_((OrderStatus.PENDING, OrderStatus.RELEASED)),
            OrderLine.sku.is_not(None),
        )
        .group_by(OrderLine.sku)
        .having(wanted > 0)
        .subquery("demand")
    )
    sellable = allocation_repo.available_subquery()
    available = sa.func.coalesce(sellable.c.available, 0)
    stmt = (
        sa.select(demand.c.sku, demand.c.demand, available.label("available"))
        .outerjoin(sellable, sellable.c.sku == demand.c.sku)
        .order_by((demand.c.demand - available).desc(), demand.c.sku)
        .limit(limit)
    )
    return [
        {"sku": sku, "demand": int(d), "available": int(a)} for sku, d, a in session.execute(stmt)
    ]
