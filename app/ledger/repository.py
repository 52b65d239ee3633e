"""The only code that reads and writes ledger tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db import (
    byte_order,
    dialect_insert,
    insert_for,
    pg_json,
    pg_rows,
    prepared,
    table_of,
    wired,
)
from app.ledger.domain import (
    SHIPMENT,
    SHIPMENT_REVERSAL,
    NewMovement,
    bundle_units,
    net_by_balance,
)
from app.ledger.models import (
    Batch,
    BundleComponent,
    ExpectedReceipt,
    ExpectedReceiptLine,
    Location,
    PickFaceLevel,
    Product,
    StockBalance,
    StockMovement,
    Stocktake,
    StocktakeLine,
)
from app.ledger.strategies import Place, Take
from app.timeutil import utcnow

_MOVEMENT_COLUMNS = (
    "key",
    "sku",
    "quantity",
    "type",
    "location",
    "actor",
    "batch",
    "reference",
    "reason",
    "account_id",
    "order_id",
    "event_id",
    "request_sha256",
    "bundle_sku",
)


def ensure_products(session: Session, skus: Iterable[str]) -> None:
    known = _known_products(session)
    unique = sorted(set(skus) - known)
    if not unique:
        return
    now = utcnow()
    stmt = prepared(session, "ledger.ensure_products", _ensure_products_statement)
    session.connection().execute(stmt, [{"sku": s, "created_at": now} for s in unique])
    known.update(unique)


def _ensure_products_statement(dialect: str) -> Any:
    return dialect_insert(dialect, table_of(Product)).on_conflict_do_nothing(index_elements=["sku"])


def location_exists(session: Session, code: str) -> bool:
    return session.get(Location, code) is not None


_MOVEMENT_TYPES = {
    "key": "text",
    "sku": "text",
    "quantity": "int",
    "type": "text",
    "location": "text",
    "actor": "text",
    "batch": "text",
    "reference": "text",
    "reason": "text",
    "account_id": "text",
    "order_id": "bigint",
    "event_id": "text",
    "request_sha256": "text",
    "bundle_sku": "text",
}
assert tuple(_MOVEMENT_TYPES) == _MOVEMENT_COLUMNS

# ensure_products + insert_movements + apply_to_balances as one PostgreSQL statement:
# only the movements actually inserted (new keys) reach the balances, whose rows are
# upserted in (sku, location, batch) order, the lock order every writer keeps: SKUs in
# code-point order (as Python sorts them for allocation's lock_balances, whatever the
# database's collation), each SKU's rows in the order of the balances' unique index.
_PG_NEW_PRODUCTS = """
new_products AS (
    INSERT INTO products (sku, tracking, bundle, created_at)
    SELECT sku, 'none', 'none', %(now)s FROM unnest(%(new_skus)s::text[]) AS p(sku)
    ON CONFLICT (sku) DO NOTHING
), """
_PG_MOVEMENTS = f"""
moved AS (
    INSERT INTO stock_movements ({", ".join(_MOVEMENT_COLUMNS)}, created_at)
    SELECT *, %(now)s FROM json_to_recordset(%(movements)s::json)
        AS m({", ".join(f"{c} {t}" for c, t in _MOVEMENT_TYPES.items())})
    ON CONFLICT (key) DO NOTHING
    RETURNING id, key, sku, quantity, type, location, batch
), balances AS (
    INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, updated_at)
    SELECT sku, location, batch, sum(quantity), 0, %(now)s FROM moved
    GROUP BY sku, location, batch ORDER BY sku COLLATE "C", location, batch
    ON CONFLICT (sku, location, batch) DO UPDATE
    SET on_hand = stock_balances.on_hand + excluded.on_hand, updated_at = excluded.updated_at
    RETURNING sku, location, batch, on_hand
)"""  # noqa: S608 - column names from the model; values are bound parameters
_PG_APPENDED = """
SELECT moved.*, balances.on_hand AS balance_on_hand
FROM moved JOIN balances USING (sku, location, batch)
ORDER BY moved.id
"""


def pg_append_ctes(
    session: Session, movements: Sequence[NewMovement]
) -> tuple[str, dict[str, Any]]:
    """append_movements on PostgreSQL as CTEs (`moved`: the rows inserted, `balances`)
    for a statement that does more (see orders' save_order), with their parameters."""
    known = _known_products(session)
    new_skus = sorted({m.sku for m in movements} - known)
    # The statement creates them; should it fail, so does the session's transaction.
    known.update(new_skus)
    params = {
        "now": utcnow(),
        "new_skus": new_skus,
        "movements": pg_json([{c: getattr(m, c) for c in _MOVEMENT_COLUMNS} for m in movements]),
    }
    return (_PG_NEW_PRODUCTS if new_skus else "") + _PG_MOVEMENTS, params


def append_movements(
    session: Session, movements: Sequence[NewMovement]
) -> tuple[list[Any], dict[tuple[str, str, str], int]]:
    """Append movements whose key is new, creating unseen SKUs, and add exactly those to
    their balances. Returns (inserted rows: at least id, key, sku, quantity, type,
    location and batch; new on hand per touched balance)."""
    if not movements:
        return [], {}
    return ledger_store(session).append_movements(session, movements)


class LedgerStore:
    """How the ledger appends movements and reads shipping facts: SQLAlchemy Core, the
    same statements on both databases. One store per database, chosen once from its
    kind by `store_for` (app/wiring.py puts it in every session's info)."""

    def append_movements(
        self, session: Session, movements: Sequence[NewMovement]
    ) -> tuple[list[Any], dict[tuple[str, str, str], int]]:
        ensure_products(session, (m.sku for m in movements))
        rows = insert_movements(session, movements)
        inserted = {r.key for r in rows}
        on_hand = apply_to_balances(session, [m for m in movements if m.key in inserted])
        return rows, on_hand

    def shipping_fact_rows(self, session: Session, skus: Sequence[str]) -> Iterable[Any]:
        stmt = prepared(session, "ledger.shipping_facts", _shipping_facts_statement)
        return session.connection().execute(stmt, {"skus": list(skus)})


class PostgresLedgerStore(LedgerStore):
    """PostgreSQL: the same two operations as fixed SQL run through the driver (pg_rows,
    which translates driver errors as session.execute does). It pays on the webhook
    ingest path: per event 3.9 → 1.7 ms of gunicorn worker CPU and 1.3 → 0.8 ms of
    PostgreSQL CPU (bench/RESULTS.md, ingest notes of 2026-11-29); a differential test
    (tests/integration/test_ledger_stores_agree.py) holds it to the Core store's results."""

    def append_movements(
        self, session: Session, movements: Sequence[NewMovement]
    ) -> tuple[list[Any], dict[tuple[str, str, str], int]]:
        ctes, params = pg_append_ctes(session, movements)
        rows = pg_rows(session, f"WITH {ctes}{_PG_APPENDED}", params)
        balances = {(r.sku, r.location, r.batch): r.balance_on_hand for r in rows}
        return rows, dict(sorted(balances.items()))

    def shipping_fact_rows(self, session: Session, skus: Sequence[str]) -> Iterable[Any]:
        return pg_rows(session, _PG_SHIPPING_FACTS, {"skus": pg_json(list(skus))})


STORE_KEY = "ledger.store"  # session.info key the session factory fills in
CORE_STORE = LedgerStore()


def store_for(dialect: str) -> LedgerStore:
    """The ledger store for a database kind: the one place that looks at it."""
    return PostgresLedgerStore() if dialect == "postgresql" else CORE_STORE


def ledger_store(session: Session) -> LedgerStore:
    """The store wired into this session (the Core store if none was)."""
    return wired(session, STORE_KEY, CORE_STORE)


def insert_movements(session: Session, movements: Sequence[NewMovement]) -> list[sa.Row[Any]]:
    """Insert movements whose key is new; return the rows actually inserted.

    The unique key makes a replay or a race a no-op instead of a double count.
    """
    if not movements:
        return []
    now = utcnow()
    rows = [
        {**{col: getattr(m, col) for col in _MOVEMENT_COLUMNS}, "created_at": now}
        for m in movements
    ]
    # executemany: SQLAlchemy batches it into one INSERT … VALUES (…), (…) with a cached
    # compiled statement (a .values([...]) list would be compiled anew every time).
    stmt = prepared(session, "ledger.insert_movements", _insert_movements_statement)
    return list(session.connection().execute(stmt, rows))


def _insert_movements_statement(dialect: str) -> Any:
    table = table_of(StockMovement)
    return (
        dialect_insert(dialect, table)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(*table.c)
    )


def apply_to_balances(
    session: Session, movements: Sequence[NewMovement]
) -> dict[tuple[str, str, str], int]:
    """Add movements to their balance rows (locked in key order); return new on_hand."""
    net = net_by_balance(movements)
    if not net:
        return {}
    now = utcnow()
    rows = [
        {"sku": s, "location": loc, "batch": b, "on_hand": q, "allocated": 0, "updated_at": now}
        for (s, loc, b), q in net.items()
    ]
    stmt = prepared(session, "ledger.apply_to_balances", _apply_to_balances_statement)
    result = session.connection().execute(stmt, rows)
    return {(r.sku, r.location, r.batch): r.on_hand for r in result}


def _apply_to_balances_statement(dialect: str) -> Any:
    table = table_of(StockBalance)
    stmt = dialect_insert(dialect, table)
    return stmt.on_conflict_do_update(
        index_elements=["sku", "location", "batch"],
        set_={
            "on_hand": table.c.on_hand + stmt.excluded.on_hand,
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(table.c.sku, table.c.location, table.c.batch, table.c.on_hand)


def shipped_by_sku(session: Session, account_id: str, order_id: int) -> dict[str, int]:
    """Units the ledger has shipped per order SKU (shipments minus reversals).

    An exploding bundle ships as component movements tagged with the bundle's SKU; it
    counts here as whole bundles under its own SKU, as the order line names it.
    """
    return order_net_by_sku(session, account_id, order_id, (SHIPMENT, SHIPMENT_REVERSAL))


def movement_by_key(session: Session, key: str) -> StockMovement | None:
    return session.scalars(sa.select(StockMovement).where(StockMovement.key == key)).first()


def stock_totals_query(sku: str | None = None, negative_only: bool = False) -> sa.Select:
    stmt = (
        sa.select(
            Product.sku,
            sa.func.coalesce(sa.func.sum(StockBalance.on_hand), 0).label("on_hand"),
            sa.func.coalesce(sa.func.sum(StockBalance.allocated), 0).label("allocated"),
        )
        .outerjoin(StockBalance, StockBalance.sku == Product.sku)
        .group_by(Product.sku)
    )
    if sku:
        stmt = stmt.where(Product.sku == sku)
    if negative_only:
        stmt = stmt.having(sa.func.coalesce(sa.func.sum(StockBalance.on_hand), 0) < 0)
    return stmt


def movements_query(
    *,
    sku: str | None,
    order_id: int | None,
    types: Sequence[str],
    account_id: str | None,
    location: str | None = None,
) -> sa.Select:
    stmt = sa.select(StockMovement)
    if location:
        stmt = stmt.where(StockMovement.location == location)
    if sku:
        stmt = stmt.where(StockMovement.sku == sku)
    if order_id is not None:
        stmt = stmt.where(StockMovement.order_id == order_id)
    if types:
        stmt = stmt.where(StockMovement.type.in_(types))
    if account_id:
        stmt = stmt.where(StockMovement.account_id == account_id)
    return stmt.order_by(StockMovement.id.desc())


# --- catalogue and places -------------------------------------------------------------


def get_location(session: Session, code: str) -> Location | None:
    return session.get(Location, code)


def locations_by_code(session: Session, codes: Iterable[str]) -> dict[str, Location]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = session.scalars(sa.select(Location).where(Location.code.in_(wanted)))
    return {loc.code: loc for loc in rows}


def ensure_location(session: Session, code: str, kind: str) -> None:
    stmt = insert_for(session, Location).values(
        code=code, kind=kind, warehouse="MAIN", sequence=0, created_at=utcnow()
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["code"]))


def products_by_sku(session: Session, skus: Iterable[str]) -> dict[str, Product]:
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    return {p.sku: p for p in session.scalars(sa.select(Product).where(Product.sku.in_(wanted)))}


def exploding_components(session: Session, skus: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
    """Bundle SKU → [(component, units per bundle)] for the exploding bundles among `skus`."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    stmt = (
        sa.select(
            BundleComponent.bundle_sku, BundleComponent.component_sku, BundleComponent.quantity
        )
        .join(Product, Product.sku == BundleComponent.bundle_sku)
        .where(BundleComponent.bundle_sku.in_(wanted), Product.bundle == "exploding")
        .order_by(BundleComponent.bundle_sku, BundleComponent.component_sku)
    )
    out: dict[str, list[tuple[str, int]]] = {}
    for bundle, component, qty in session.execute(stmt):
        out.setdefault(bundle, []).append((component, qty))
    return out


def components_of(session: Session, bundle_skus: Iterable[str]) -> dict[str, dict[str, int]]:
    wanted = sorted(set(bundle_skus))
    if not wanted:
        return {}
    stmt = sa.select(BundleComponent).where(BundleComponent.bundle_sku.in_(wanted))
    out: dict[str, dict[str, int]] = {}
    for c in session.scalars(stmt):
        out.setdefault(c.bundle_sku, {})[c.component_sku] = c.quantity
    return out


def replace_components(session: Session, bundle_sku: str, parts: Sequence[tuple[str, int]]) -> None:
    session.execute(sa.delete(BundleComponent).where(BundleComponent.bundle_sku == bundle_sku))
    if parts:
        session.execute(
            sa.insert(BundleComponent),
            [{"bundle_sku": bundle_sku, "component_sku": c, "quantity": q} for c, q in parts],
        )


def places_for(session: Session, skus: Iterable[str]) -> dict[str, list[Place]]:
    """Every balance of these SKUs with what the picking strategies sort on."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    stmt = (
        sa.select(
            StockBalance.sku,
            StockBalance.location,
            StockBalance.batch,
            StockBalance.on_hand,
            StockBalance.allocated,
            Location.kind,
            Location.sequence,
            Batch.received_at,
            Batch.expiry,
        )
        .join(Location, Location.code == StockBalance.location)
        .outerjoin(Batch, sa.and_(Batch.sku == StockBalance.sku, Batch.code == StockBalance.batch))
        .where(StockBalance.sku.in_(wanted))
        .order_by(StockBalance.sku, StockBalance.location, StockBalance.batch)
    )
    out: dict[str, list[Place]] = {sku: [] for sku in wanted}
    for r in session.execute(stmt):
        out[r.sku].append(
            Place(
                location=r.location,
                batch=r.batch,
                available=r.on_hand - r.allocated,
                kind=r.kind,
                sequence=r.sequence,
                received_at=r.received_at,
                expiry=r.expiry,
            )
        )
    return out


@dataclass(frozen=True)
class ShippingFacts:
    """What choosing shipment places needs, for a set of SKUs, from one query."""

    strategies: dict[str, str | None]  # known SKUs → their strategy
    bundles: dict[str, str]  # known SKUs → bundle kind
    places: dict[str, list[Place]]


def _shipping_facts_statement(dialect: str) -> Any:
    del dialect
    return (
        sa.select(
            Product.sku,
            Product.strategy,
            Product.bundle,
            StockBalance.location,
            StockBalance.batch,
            StockBalance.on_hand,
            StockBalance.allocated,
            Location.kind,
            Location.sequence,
            Batch.received_at,
            Batch.expiry,
        )
        .select_from(Product)
        .outerjoin(StockBalance, StockBalance.sku == Product.sku)
        .outerjoin(Location, Location.code == StockBalance.location)
        .outerjoin(Batch, sa.and_(Batch.sku == StockBalance.sku, Batch.code == StockBalance.batch))
        .where(Product.sku.in_(sa.bindparam("skus", expanding=True)))
        .order_by(Product.sku, StockBalance.location, StockBalance.batch)
    )


# _shipping_facts_statement as PostgreSQL text for the driver, written for a stable,
# index-only plan (psycopg prepares it; PostgreSQL then reuses one generic plan): the
# SKUs come as JSON, whose row estimate does not depend on how many there are (so the
# generic plan is taken), and each product and its balances are fetched per SKU by
# index (the LATERAL subqueries are not flattened) rather than by hashing a scan of
# every product and balance, which `sku = ANY(...)` gets while the catalogue is small.
_PG_SHIPPING_FACTS = """
SELECT p.sku, p.strategy, p.bundle, b.location, b.batch, b.on_hand, b.allocated,
       b.kind, b.sequence, b.received_at, b.expiry
FROM json_array_elements_text(%(skus)s::json) AS wanted(sku)
CROSS JOIN LATERAL (
    SELECT sku, strategy, bundle FROM products WHERE sku = wanted.sku LIMIT 1
) p
LEFT JOIN LATERAL (
    SELECT b.location, b.batch, b.on_hand, b.allocated, l.kind, l.sequence,
           t.received_at, t.expiry
    FROM stock_balances b
    JOIN locations l ON l.code = b.location
    LEFT JOIN batches t ON t.sku = b.sku AND t.code = b.batch
    WHERE b.sku = wanted.sku
    OFFSET 0
) b ON true
ORDER BY p.sku, b.location, b.batch
"""


# The same facts as one JSON value, for a statement that reads them alongside its own
# work (webhook ingest: with storing the event and locking its order).
PG_SHIPPING_FACTS_JSON = (
    "(SELECT json_agg(json_build_array(sku, strategy, bundle, location, batch, on_hand,"  # noqa: S608
    " allocated, kind, sequence, received_at, expiry) ORDER BY sku, location, batch)"
    f" FROM ({_PG_SHIPPING_FACTS}) AS facts)"
)
_PREFETCHED = "ledger.prefetched_facts"  # session.info: facts read by another statement


class _FactRow(NamedTuple):
    sku: str
    strategy: str | None
    bundle: str
    location: str | None
    batch: str | None
    on_hand: int | None
    allocated: int | None
    kind: str | None
    sequence: int | None
    received_at: datetime | None
    expiry: date | None


def prefetched_shipping_facts(session: Session, skus: Iterable[str], rows: Any) -> None:
    """Keep facts that a statement read with PG_SHIPPING_FACTS_JSON for `skus`, for the
    next shipping_facts call of this transaction (used once, then read afresh)."""
    parsed = []
    for r in rows or ():
        received_at = datetime.fromisoformat(r[9]) if r[9] else None
        expiry = date.fromisoformat(r[10]) if r[10] else None
        parsed.append(_FactRow._make((*r[:9], received_at, expiry)))
    session.info[_PREFETCHED] = (frozenset(skus), parsed)


@event.listens_for(Session, "after_transaction_end")
def _forget_prefetched(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_PREFETCHED, None)


def shipping_facts(session: Session, skus: Iterable[str]) -> ShippingFacts:
    """Products (strategy, bundle kind) and every balance of `skus` in one round trip
    (none when the transaction's first statement prefetched them).

    SKUs it finds are remembered for the transaction, so `ensure_products` skips them.
    """
    wanted = sorted(set(skus))
    facts = ShippingFacts({}, {}, {sku: [] for sku in wanted})
    if not wanted:
        return facts
    prefetched = session.info.pop(_PREFETCHED, None)
    rows: Iterable[Any]
    if prefetched is not None and prefetched[0].issuperset(wanted):
        rows = [r for r in prefetched[1] if r.sku in facts.places]
    else:
        rows = ledger_store(session).shipping_fact_rows(session, wanted)
    for r in rows:
        facts.strategies[r.sku] = r.strategy
        facts.bundles[r.sku] = r.bundle
        if r.location is not None:
            facts.places[r.sku].append(
                Place(
                    location=r.location,
                    batch=r.batch,
                    available=r.on_hand - r.allocated,
                    kind=r.kind,
                    sequence=r.sequence,
                    received_at=r.received_at,
                    expiry=r.expiry,
                )
            )
    _known_products(session).update(facts.strategies)
    return facts


def _known_products(session: Session) -> set[str]:
    known: set[str] = session.info.setdefault("ledger.known_products", set())
    return known


def order_places_shipped(
    session: Session, account_id: str, order_id: int, sku: str, bundle_sku: str | None
) -> list[Take]:
    """Where the order's shipments of `sku` (net of reversals) came from, newest first."""
    m = StockMovement
    origin = m.bundle_sku.is_(None) if bundle_sku is None else m.bundle_sku == bundle_sku
    stmt = (
        sa.select(m.location, m.batch, sa.func.sum(m.quantity), sa.func.max(m.id))
        .where(
            m.account_id == account_id,
            m.order_id == order_id,
            m.sku == sku,
            origin,
            m.type.in_((SHIPMENT, SHIPMENT_REVERSAL)),
        )
        .group_by(m.location, m.batch)
        .order_by(sa.func.max(m.id).desc())
    )
    return [
        Take(loc, batch, -int(total)) for loc, batch, total, _ in session.execute(stmt) if total
    ]


def order_net_by_sku(
    session: Session, account_id: str, order_id: int, types: Sequence[str]
) -> dict[str, int]:
    """Units per order SKU moved by `types` (as positive numbers); bundles counted whole."""
    m = StockMovement
    stmt = (
        sa.select(m.sku, m.bundle_sku, sa.func.sum(m.quantity))
        .where(m.account_id == account_id, m.order_id == order_id, m.type.in_(types))
        .group_by(m.sku, m.bundle_sku)
    )
    direct: dict[str, int] = {}
    via: dict[str, dict[str, int]] = {}
    for sku, bundle, total in session.execute(stmt):
        if bundle is None:
            direct[sku] = abs(int(total or 0))
        else:
            via.setdefault(bundle, {})[sku] = abs(int(total or 0))
    if via:
        definitions = components_of(session, via)
        for bundle, shipped in via.items():
            per = definitions.get(bundle) or dict.fromkeys(shipped, 1)
            direct[bundle] = direct.get(bundle, 0) + bundle_units(shipped, per)
    return {sku: qty for sku, qty in direct.items() if qty}


def balances_at(
    session: Session, location: str, skus: Sequence[str] | None
) -> dict[tuple[str, str], int]:
    stmt = sa.select(StockBalance.sku, StockBalance.batch, StockBalance.on_hand).where(
        StockBalance.location == location
    )
    if skus is not None:
        stmt = stmt.where(StockBalance.sku.in_(sorted(set(skus))))
    else:
        stmt = stmt.where(StockBalance.on_hand != 0)
    return {(r.sku, r.batch): r.on_hand for r in session.execute(stmt)}


def max_movement_id(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.max(StockMovement.id))) or 0)


def skus_moved_since(
    session: Session, location: str, skus: Sequence[str], after_id: int
) -> set[str]:
    if not skus:
        return set()
    stmt = (
        sa.select(StockMovement.sku)
        .where(
            StockMovement.location == location,
            StockMovement.sku.in_(sorted(set(skus))),
            StockMovement.id > after_id,
        )
        .distinct()
    )
    return set(session.scalars(stmt))


def serials_on_hand(session: Session, sku: str, codes: Sequence[str]) -> dict[str, int]:
    """Units on hand per serial (all locations); a serial is never on hand twice."""
    if not codes:
        return {}
    stmt = (
        sa.select(StockBalance.batch, sa.func.sum(StockBalance.on_hand))
        .where(StockBalance.sku == sku, StockBalance.batch.in_(sorted(set(codes))))
        .group_by(StockBalance.batch)
    )
    return {code: int(total or 0) for code, total in session.execute(stmt)}


def upsert_batches(
    session: Session, rows: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], Batch]:
    """Create missing batches (first receipt sets received_at); lock and return them all."""
    if not rows:
        return {}
    stmt = insert_for(session, Batch).values(list(rows))
    session.execute(stmt.on_conflict_do_nothing(index_elements=["sku", "code"]))
    keys = sorted({(r["sku"], r["code"]) for r in rows})
    found = session.scalars(
        sa.select(Batch)
        .where(sa.tuple_(Batch.sku, Batch.code).in_(keys))
        .order_by(Batch.sku, Batch.code)
        .with_for_update()
    )
    return {(b.sku, b.code): b for b in found}


def movements_of_request(session: Session, reference: str, key_prefix: str) -> list[StockMovement]:
    """The movements one keyed request wrote (its reference, keys under its prefix)."""
    escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (
        sa.select(StockMovement)
        .where(
            StockMovement.reference == reference,
            StockMovement.key.like(escaped + "%", escape="\\"),
        )
        .order_by(StockMovement.id)
    )
    return list(session.scalars(stmt))


def movements_by_ids(session: Session, ids: Sequence[int]) -> list[StockMovement]:
    if not ids:
        return []
    stmt = sa.select(StockMovement).where(StockMovement.id.in_(ids)).order_by(StockMovement.id)
    return list(session.scalars(stmt))


def bulk_sources(
    session: Session, skus: Sequence[str]
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(SKU, warehouse) → available units per bulk location (to replenish pick faces)."""
    if not skus:
        return {}
    available = sa.func.sum(StockBalance.on_hand - StockBalance.allocated)
    stmt = (
        sa.select(StockBalance.sku, Location.warehouse, StockBalance.location, available)
        .join(Location, Location.code == StockBalance.location)
        .where(StockBalance.sku.in_(sorted(set(skus))), Location.kind == "bulk")
        .group_by(StockBalance.sku, Location.warehouse, StockBalance.location)
        .having(available > 0)
    )
    out: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for sku, warehouse, loc, qty in session.execute(stmt):
        out.setdefault((sku, warehouse), []).append((loc, int(qty)))
    return out


def pick_face_levels(session: Session) -> list[tuple[str, str, str, int, int]]:
    """(sku, pick face, its warehouse, min level, on hand there) for every level."""
    on_hand = (
        sa.select(sa.func.coalesce(sa.func.sum(StockBalance.on_hand), 0))
        .where(
            StockBalance.sku == PickFaceLevel.sku,
            StockBalance.location == PickFaceLevel.location,
        )
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            PickFaceLevel.sku,
            PickFaceLevel.location,
            Location.warehouse,
            PickFaceLevel.min_level,
            on_hand,
        )
        .join(Location, Location.code == PickFaceLevel.location)
        .order_by(PickFaceLevel.sku, PickFaceLevel.location)
    )
    return [(s, loc, wh, lvl, int(oh)) for s, loc, wh, lvl, oh in session.execute(stmt)]


def set_pick_face_level(session: Session, sku: str, location: str, min_level: int) -> None:
    stmt = insert_for(session, PickFaceLevel).values(
        sku=sku, location=location, min_level=min_level
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["sku", "location"], set_={"min_level": min_level}
        )
    )


# --- expected receipts (purchase orders) and stocktakes ---------------------------------


def add_expected_receipt(
    session: Session, receipt: ExpectedReceipt, lines: Sequence[tuple[str, int]]
) -> ExpectedReceipt:
    session.add(receipt)
    session.flush()
    session.execute(
        sa.insert(ExpectedReceiptLine),
        [{"receipt_id": receipt.id, "sku": s, "quantity": q, "received": 0} for s, q in lines],
    )
    return receipt


def expected_receipt(
    session: Session, reference: str, *, lock: bool = False
) -> ExpectedReceipt | None:
    stmt = sa.select(ExpectedReceipt).where(ExpectedReceipt.reference == reference)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def expected_lines(session: Session, receipt_ids: Sequence[int]) -> list[ExpectedReceiptLine]:
    if not receipt_ids:
        return []
    stmt = (
        sa.select(ExpectedReceiptLine)
        .where(ExpectedReceiptLine.receipt_id.in_(receipt_ids))
        .order_by(ExpectedReceiptLine.receipt_id, ExpectedReceiptLine.sku)
    )
    return list(session.scalars(stmt))


def expected_receipts_query(statuses: Sequence[str]) -> sa.Select:
    stmt = sa.select(ExpectedReceipt)
    if statuses:
        stmt = stmt.where(ExpectedReceipt.status.in_(statuses))
    return stmt.order_by(ExpectedReceipt.expected_date.asc().nulls_last(), ExpectedReceipt.id)


def add_stocktake(
    session: Session, stocktake: Stocktake, book: dict[tuple[str, str], int]
) -> Stocktake:
    session.add(stocktake)
    session.flush()
    if book:
        session.execute(
            sa.insert(StocktakeLine),
            [
                {"stocktake_id": stocktake.id, "sku": s, "batch": b, "book": q}
                for (s, b), q in sorted(book.items())
            ],
        )
    return stocktake


def get_stocktake(session: Session, stocktake_id: int, *, lock: bool = False) -> Stocktake | None:
    stmt = sa.select(Stocktake).where(Stocktake.id == stocktake_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def stocktake_lines(session: Session, stocktake_id: int) -> list[StocktakeLine]:
    stmt = (
        sa.select(StocktakeLine)
        .where(StocktakeLine.stocktake_id == stocktake_id)
        .order_by(StocktakeLine.sku, StocktakeLine.batch)
    )
    return list(session.scalars(stmt))


def add(session: Session, obj: Any) -> None:
    session.add(obj)
    session.flush()


def flush(session: Session) -> None:
    session.flush()


def order_parts_moved(
    session: Session, account_id: str, order_id: int, types: Sequence[str]
) -> dict[tuple[str, str | None], int]:
    """Σ quantity per (sku, bundle it moved for) of one order's movements of `types`."""
    m = StockMovement
    stmt = (
        sa.select(m.sku, m.bundle_sku, sa.func.sum(m.quantity))
        .where(m.account_id == account_id, m.order_id == order_id, m.type.in_(types))
        .group_by(m.sku, m.bundle_sku)
    )
    return {(sku, bundle): int(total or 0) for sku, bundle, total in session.execute(stmt)}


def has_stock(session: Session, sku: str) -> bool:
    stmt = (
        sa.select(StockBalance.id)
        .where(StockBalance.sku == sku, StockBalance.on_hand != 0)
        .limit(1)
    )
    return session.scalar(stmt) is not None


# --- streaming scans (ledger verify, exports) -----------------------------------------

_STREAM_ROWS = 10_000


def _byte_order(session: Session, *cols: Any) -> list[Any]:
    del session
    return [byte_order(c) for c in cols]


def stream_movement_sums(session: Session) -> Iterator[tuple[tuple[str, str, str], int]]:
    m = StockMovement
    stmt = (
        sa.select(m.sku, m.location, m.batch, sa.func.sum(m.quantity))
        .group_by(m.sku, m.location, m.batch)
        .order_by(*_byte_order(session, m.sku, m.location, m.batch))
        .execution_options(yield_per=_STREAM_ROWS)
    )
    for sku, loc, batch, total in session.execute(stmt):
        yield (sku, loc, batch), int(total or 0)


def stream_balances(session: Session) -> Iterator[tuple[tuple[str, str, str], int]]:
    b = StockBalance
    stmt = (
        sa.select(b.sku, b.location, b.batch, b.on_hand)
        .order_by(*_byte_order(session, b.sku, b.location, b.batch))
        .execution_options(yield_per=_STREAM_ROWS)
    )
    for sku, loc, batch, on_hand in session.execute(stmt):
        yield (sku, loc, batch), int(on_hand)


def stream_movements(session: Session) -> Iterator[StockMovement]:
    stmt = (
        sa.select(StockMovement)
        .order_by(StockMovement.id)
        .execution_options(yield_per=_STREAM_ROWS)
    )
    for row in session.scalars(stmt):
        yield row
        session.expunge(row)


def stream_stock(session: Session) -> Iterator[Any]:
    stmt = (
        sa.select(
            StockBalance.sku,
            StockBalance.location,
            StockBalance.batch,
            StockBalance.on_hand,
            StockBalance.allocated,
            Batch.expiry,
        )
        .outerjoin(Batch, sa.and_(Batch.sku == StockBalance.sku, Batch.code == StockBalance.batch))
        .where(StockBalance.on_hand != 0)
        .order_by(StockBalance.sku, StockBalance.location, StockBalance.batch)
        .execution_options(yield_per=_STREAM_ROWS)
    )
    yield from session.execute(stmt)


def location_kinds(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    stmt = sa.select(Location.code, Location.kind).where(Location.code.in_(wanted))
    return {code: kind for code, kind in session.execute(stmt)}


def locations_query(kinds: Sequence[str]) -> sa.Select:
    stmt = sa.select(Location).order_by(Location.warehouse, Location.sequence, Location.code)
    if kinds:
        stmt = stmt.where(Location.kind.in_(kinds))
    return stmt


def detach(session: Session, obj: Any) -> None:
    session.expunge(obj)


def _stock_rows_statement() -> sa.Select:
    """Part 1: each product's balances with location kind and its incoming units (a product
    without balances gives one row with location None). Part 2: outstanding units of open
    expected receipts per destination location. One round trip for both."""
    line, po = ExpectedReceiptLine, ExpectedReceipt
    outstanding = sa.case((line.quantity > line.received, line.quantity - line.received), else_=0)
    incoming = (
        sa.select(sa.func.coalesce(sa.func.sum(outstanding), 0))
        .join(po, po.id == line.receipt_id)
        .where(line.sku == Product.sku, po.status == "open")
        .scalar_subquery()
    )
    skus: sa.BindParameter[Any] = sa.bindparam("skus", expanding=True)
    balances = (
        sa.select(
            sa.literal(1).label("part"),
            Product.sku.label("sku"),
            incoming.label("incoming"),
            StockBalance.location.label("location"),
            StockBalance.batch.label("batch"),
            StockBalance.on_hand.label("on_hand"),
            StockBalance.allocated.label("allocated"),
            Location.kind.label("kind"),
        )
        .select_from(Product)
        .outerjoin(StockBalance, StockBalance.sku == Product.sku)
        .outerjoin(Location, Location.code == StockBalance.location)
        .where(Product.sku.in_(skus))
    )
    expected = (
        sa.select(
            sa.literal(2),
            line.sku,
            sa.func.sum(outstanding),
            po.location,
            sa.literal(""),
            sa.literal(0),
            sa.literal(0),
            Location.kind,
        )
        .join(po, po.id == line.receipt_id)
        .join(Location, Location.code == po.location)
        .where(po.status == "open", line.sku.in_(skus))
        .group_by(line.sku, po.location, Location.kind)
        .having(sa.func.sum(outstanding) > 0)
    )
    union = sa.union_all(balances, expected).subquery()
    return sa.select(union).order_by(union.c.sku, union.c.part, union.c.location, union.c.batch)


# Built once: GET /api/stock/{sku} is the hot read path (compiled-cache friendly too).
_STOCK_ROWS = _stock_rows_statement()


def stock_rows(session: Session, skus: Sequence[str]) -> list[sa.Row[Any]]:
    """One round trip for stock views (see `_stock_rows_statement`; an unknown SKU gives
    no row of part 1)."""
    if not skus:
        return []
    # Core execution on the session's connection: no ORM entities, less per-call overhead.
    return list(session.connection().execute(_STOCK_ROWS, {"skus": sorted(set(skus))}))


def serials_over_one(session: Session, limit: int) -> list[tuple[str, str, int]]:
    """Serials of serial-tracked products with more than one unit on hand (never expected)."""
    total = sa.func.sum(StockBalance.on_hand)
    stmt = (
        sa.select(StockBalance.sku, StockBalance.batch, total)
        .join(Product, Product.sku == StockBalance.sku)
        .where(Product.tracking == "serial", StockBalance.batch != "")
        .group_by(StockBalance.sku, StockBalance.batch)
        .having(total > 1)
        .order_by(StockBalance.sku, StockBalance.batch)
        .limit(limit)
    )
    return [(sku, code, int(n)) for sku, code, n in session.execute(stmt)]


def existing_movement_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these movement keys are already in the ledger (one query)."""
    if not keys:
        return set()
    stmt = sa.select(StockMovement.key).where(StockMovement.key.in_(sorted(set(keys))))
    return set(session.scalars(stmt))


def on_hand_of_skus(session: Session, skus: Sequence[str]) -> dict[tuple[str, str, str], int]:
    """On hand per (sku, location, batch) for these SKUs (an index range per SKU; a tuple
    IN list makes PostgreSQL scan the whole table)."""
    if not skus:
        return {}
    b = StockBalance
    stmt = sa.select(b.sku, b.location, b.batch, b.on_hand).where(b.sku.in_(sorted(set(skus))))
    return {(r.sku, r.location, r.batch): r.on_hand for r in session.execute(stmt)}
