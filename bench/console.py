"""Console benchmark on PostgreSQL: server time of every console page with 100,000 orders,
10,000 SKUs, 1,000,000 movements and a 10,000-row drift report.

    .venv/bin/python bench/console.py            # print the figures
    .venv/bin/python bench/console.py --record   # also append them to bench/RESULTS.md

The data is written in bulk with SQL (generate_series) into a database of its own (unique
name, dropped at the end); a few dozen orders are then released through the release
service so pick lists have allocations. Each page is requested through the WSGI app with a
signed-in finance or ops session (in process: the time is the server's, from request to the
last byte of the body), --warmup times and then --requests times; p50 and p95 per page.
The first view of the report works out its drift rows' money facts once: timed apart.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import machine  # noqa: E402

from app import create_app  # noqa: E402
from app.allocation.config import AllocationConfig  # noqa: E402
from app.allocation.service import release_orders  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.users.service import add_user  # noqa: E402

ORDERS, SKUS, MOVEMENTS, DRIFT = 100_000, 10_000, 1_000_000, 10_000
PASSWORD = "bench password"
GOAL_MS = 150.0

SEED_SQL = [
    # 10,000 SKUs, a pick face besides DEFAULT
    "INSERT INTO products (sku, created_at, tracking, bundle) SELECT 'SKU-' || lpad(g::text, 5, '0'),"
    " now(), 'none', 'none' FROM generate_series(0, {skus} - 1) g",
    "INSERT INTO locations (code, kind, created_at) VALUES ('PICK-A', 'pick_face', now())",
    # 100,000 orders over 115 days: 80% shipped, 5% cancelled, 5% partly shipped, 10% pending
    # (10,000 open orders: about 12 days of this merchant's orders waiting)
    "INSERT INTO orders (id, account_id, order_id, order_number, order_date, status, allocation_status,"
    " platform, created_at, updated_at, shipped_at, content_at, content_event_id)"
    " SELECT g, 'default', 500000 + g, 'B-' || g, timestamptz '2026-08-01' + g * interval '100 seconds',"
    " CASE WHEN g % 20 < 16 THEN 'SHIPPED' WHEN g % 20 = 16 THEN 'CANCELLED'"
    "      WHEN g % 20 = 17 THEN 'PARTIALLY_SHIPPED' ELSE 'PENDING' END,"
    " CASE WHEN g % 20 = 19 AND g % 3 = 0 THEN 'COULD_NOT_ALLOCATE' ELSE 'UNALLOCATED' END,"
    " (ARRAY['Shopify', 'eBay', 'Amazon'])[g % 3 + 1], now(), now(),"
    " CASE WHEN g % 20 < 16 OR g % 20 = 17 THEN timestamptz '2026-08-02' + g * interval '100 seconds' END,"
    " timestamptz '2026-08-01' + g * interval '100 seconds', 'evt-' || g"
    " FROM generate_series(1, {orders}) g",
    "SELECT setval(pg_get_serial_sequence('orders', 'id'), {orders})",
    # 1–3 lines per order (about 200,000)
    "INSERT INTO order_lines (order_pk, line_no, sku, description, quantity, quantity_allocated, value)"
    " SELECT g, k, 'SKU-' || lpad(((g * 7 + k * 13) % {skus})::text, 5, '0'), 'item ' || k,"
    " 1 + (g + k) % 3, 0, 5 + (g + k) % 40"
    " FROM generate_series(1, {orders}) g, generate_series(1, 3) k WHERE k <= 1 + g % 3",
    # two timeline entries per order
    "INSERT INTO order_timeline (order_pk, at, kind, detail, event_id)"
    " SELECT g, timestamptz '2026-08-01' + g * interval '100 seconds', 'created',"
    " 'order_created: 1 line', 'evt-c-' || g FROM generate_series(1, {orders}) g",
    "INSERT INTO order_timeline (order_pk, at, kind, detail, event_id)"
    " SELECT id, order_date + interval '1 day', 'status', 'PENDING → ' || status, content_event_id"
    " FROM orders WHERE status <> 'PENDING'",
    # receipts (the bulk of the ledger), a hot SKU with 20,000 adjustments, then shipments
    "INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, actor, created_at)"
    " SELECT 'receipt:GRN-' || r || ':0', 'SKU-' || lpad((r % {skus})::text, 5, '0'),"
    " CASE WHEN r % 4 = 0 THEN 'PICK-A' ELSE 'DEFAULT' END, '', 1 + r % 7, 'receipt', 'GRN-' || r,"
    " 'bench', timestamptz '2026-07-01' + r * interval '10 seconds'"
    " FROM generate_series(1, {receipts}) r",
    "INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, reason, actor, created_at)"
    " SELECT 'adjustment:ADJ-' || r, 'SKU-00001', 'DEFAULT', '', CASE WHEN r % 2 = 0 THEN 1 ELSE -1 END,"
    " 'adjustment', 'ADJ-' || r, 'cycle count', 'bench', timestamptz '2026-08-01' + r * interval '5 minutes'"
    " FROM generate_series(1, 20000) r",
    "INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, reason, actor, created_at)"
    " SELECT 'adjustment:NEG-' || r, 'SKU-' || lpad(({skus} - r)::text, 5, '0'), 'DEFAULT', '', -5000,"
    " 'adjustment', 'NEG-' || r, 'write-off', 'bench', now() FROM generate_series(1, 20) r",
    "INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, account_id, order_id,"
    " event_id, actor, created_at)"
    " SELECT 'ship:' || o.id || ':' || l.line_no, l.sku, 'DEFAULT', '', -l.quantity, 'shipment',"
    " o.order_number, 'default', o.order_id, 'evt-s-' || o.id, 'starshipit', o.shipped_at"
    " FROM orders o JOIN order_lines l ON l.order_pk = o.id WHERE o.shipped_at IS NOT NULL",
    "INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, updated_at)"
    " SELECT sku, location, batch, sum(quantity), 0, now() FROM stock_movements"
    " GROUP BY sku, location, batch",
    # parked events
    "INSERT INTO inbox_events (account_id, event_id, source, event_type, order_id, order_number,"
    " body_sha256, payload, status, reason, attempts, received_at)"
    " SELECT 'default', 'evt-parked-' || g, 'orders', 'order_shipped', 900000 + g, 'P-' || g,"
    " md5(g::text), '{{}}', 'parked', 'line 1 (SKU-00001): quantity_shipped 3 exceeds quantity 1', 1, now()"
    " FROM generate_series(1, 60) g",
]

RUN_SQL = [
    "INSERT INTO reconciliation_runs (account_id, status, trigger, since, until, started_at, finished_at,"
    " api_calls, pages, checked, matched, summary)"
    " VALUES ('default', 'done', 'scheduler', '2026-11-01', '2026-11-25', now() - interval '1 hour',"
    " now(), 420, 400, 100000, 90000, '{{}}') RETURNING id",
]


def drift_sql(run_id: int) -> list[str]:
    """10,000 drift rows: 4,000 missing shipments (pending orders, with Starshipit's
    snapshot so they repair), 2,000 quantity mismatches, 2,000 unexpected shipments, 1,000
    unknown orders, 500 status mismatches, 500 negative stock."""
    snapshot = (
        "json_build_object('order_id', o.order_id, 'order_number', o.order_number, 'status', 'Shipped',"
        " 'shipped_date', '2026-11-20T01:00:00Z', 'items', json_build_array(json_build_object("
        "'sku', l.sku, 'quantity', l.quantity, 'quantity_shipped', l.quantity, 'value', l.value)))"
    )
    head = (
        "INSERT INTO reconciliation_drift (run_id, category, order_id, order_number, sku, expected,"
        " actual, detail, snapshot, snapshot_at) "
    )
    return [
        head
        + f"SELECT {run_id}, 'missing_shipment', o.order_id, o.order_number, l.sku, l.quantity::text,"
        " '0', 'Starshipit shipped ' || l.quantity || ', the ledger recorded none', "
        + snapshot
        + ", now() FROM orders o JOIN order_lines l ON l.order_pk = o.id AND l.line_no = 1"
        " WHERE o.status = 'PENDING' AND o.id % 2 = 0 ORDER BY o.id LIMIT 4000",
        head + f"SELECT {run_id}, 'quantity_mismatch', o.order_id, o.order_number, l.sku,"
        " (l.quantity + 1)::text, l.quantity::text, 'Starshipit shipped ' || (l.quantity + 1) ||"
        " ', the ledger recorded ' || l.quantity, NULL, NULL FROM orders o JOIN order_lines l"
        " ON l.order_pk = o.id AND l.line_no = 1 WHERE o.status = 'SHIPPED' ORDER BY o.id LIMIT 2000",
        head + f"SELECT {run_id}, 'unexpected_shipment', o.order_id, o.order_number, l.sku, '0',"
        " l.quantity::text, 'the ledger shipped ' || l.quantity || ' but Starshipit shows no shipment',"
        " NULL, NULL FROM orders o JOIN order_lines l ON l.order_pk = o.id AND l.line_no = 1"
        " WHERE o.status = 'SHIPPED' ORDER BY o.id DESC LIMIT 2000",
        head + f"SELECT {run_id}, 'unknown_order', 800000 + g, 'U-' || g, NULL, '2', '0',"
        " 'shipped in Starshipit (SKU-00042 ×2) but never mirrored', json_build_object('order_id',"
        " 800000 + g, 'order_number', 'U-' || g, 'status', 'Shipped', 'items', json_build_array("
        "json_build_object('sku', 'SKU-00042', 'quantity', 2, 'value', 9.5))), now()"
        " FROM generate_series(1, 1000) g",
        head + f"SELECT {run_id}, 'status_mismatch', o.order_id, o.order_number, NULL, 'Unshipped',"
        " o.status, 'Starshipit lists it as unshipped; the mirror says ' || o.status, NULL, NULL"
        " FROM orders o WHERE o.status = 'CANCELLED' ORDER BY o.id LIMIT 500",
        head
        + f"SELECT {run_id}, 'negative_stock', NULL, NULL, 'SKU-' || lpad(g::text, 5, '0'), '>= 0',"
        " '-' || g, 'SKU has -' || g || ' on hand', NULL, NULL FROM generate_series(1, 500) g",
        "UPDATE reconciliation_runs SET summary = (SELECT json_object_agg(category, n) FROM"
        f" (SELECT category, count(*) AS n FROM reconciliation_drift WHERE run_id = {run_id}"
        f" GROUP BY category) c) WHERE id = {run_id}",
    ]


def seed(dsn: str) -> int:
    params = {"orders": ORDERS, "skus": SKUS}
    with psycopg.connect(dsn, autocommit=True) as conn:
        shipments = ORDERS * 17 // 20 * 2  # about: shipped and partly shipped orders × ~2 lines
        params["receipts"] = MOVEMENTS - 20_000 - 20 - shipments
        for sql in SEED_SQL:
            conn.execute(sql.format(**params))
        run_id = conn.execute(RUN_SQL[0].format()).fetchone()[0]
        for sql in drift_sql(run_id):
            conn.execute(sql)
        conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in (
                "orders",
                "order_lines",
                "products",
                "stock_movements",
                "reconciliation_drift",
            )
        }
    print("seeded:", ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
    return int(run_id)


def signed_in(app, email: str, role: str):
    add_user(app.extensions["stockmirror"].db, email, role, PASSWORD)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.status_code
    return client


def timed(client, path: str, warmup: int, requests: int) -> tuple[float, float, int]:
    status = 0
    for _ in range(warmup):
        status = client.get(path).status_code
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        response.get_data()
        samples.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    samples.sort()
    p95 = samples[max(0, int(round(0.95 * len(samples))) - 1)]
    return statistics.median(samples), p95, status


def _page_ids(app, run_id: int) -> tuple:
    """A mid-list order (for a deep page), a drift row, an old movement of the hot SKU and
    an order with allocations."""
    import sqlalchemy as sa

    with app.extensions["stockmirror"].db.read() as session:
        mid = session.execute(
            sa.text(
                "SELECT order_date, id FROM orders ORDER BY order_date, id OFFSET 60000 LIMIT 1"
            )
        ).one()
        drift_id = session.execute(
            sa.text(f"SELECT min(id) FROM reconciliation_drift WHERE run_id = {run_id}")
        ).scalar()
        old_adjustment = session.execute(
            sa.text(
                "SELECT id FROM stock_movements WHERE sku = 'SKU-00001' ORDER BY id OFFSET 100 LIMIT 1"
            )
        ).scalar()
        picked = session.execute(
            sa.text(
                "SELECT o.order_number FROM allocations a JOIN orders o ON o.id = a.order_pk LIMIT 1"
            )
        ).scalar()
    return mid, drift_id, old_adjustment, picked


def pages(app, run_id: int, release_id: int) -> list[tuple[str, str]]:
    mid, drift_id, old_adjustment, picked = _page_ids(app, run_id)
    from app.console.queries import EPOCH

    cursor = f"d:{(mid[0] - EPOCH) // timedelta(microseconds=1)}~{mid[1]}"
    return [
        ("ops", "/"),
        ("ops", "/orders"),
        ("ops", "/orders?status=PENDING"),
        ("ops", "/orders?status=PENDING&allocation_status=COULD_NOT_ALLOCATE&platform=eBay"),
        ("ops", "/orders?allocation_status=OVERALLOCATED"),
        ("ops", "/orders?from=2026-09-01&to=2026-09-30"),
        ("ops", "/orders?order_number=B-77777"),
        ("ops", "/orders?allocatable=1"),
        ("ops", "/orders?status=PENDING&allocatable=1"),
        ("ops", f"/orders?after={cursor}"),
        ("ops", "/orders/B-77777"),
        ("ops", f"/orders/{picked}"),
        ("ops", f"/orders/{picked}/picklist"),
        ("ops", f"/releases/{release_id}/picklist"),
        ("ops", f"/releases/{release_id}/picklist.csv"),
        ("ops", "/stock"),
        ("ops", "/stock?sku=SKU-05"),
        ("ops", "/stock?flag=negative"),
        ("ops", "/stock?flag=overallocated"),
        ("ops", "/stock?after=SKU-07000"),
        ("ops", "/stock/SKU-00042"),
        ("ops", "/stock/SKU-00001"),
        ("ops", f"/stock/SKU-00001?before={old_adjustment}"),
        ("ops", f"/movements/{old_adjustment}"),
        ("ops", "/events"),
        ("finance", "/reconciliations"),
        ("finance", f"/reconciliations/{run_id}"),
        ("finance", f"/reconciliations/{run_id}?page=60"),
        ("finance", f"/reconciliations/{run_id}?sort=value&dir=desc"),
        ("finance", f"/reconciliations/{run_id}?category=missing_shipment&sort=shipped_at"),
        ("finance", f"/reconciliations/{run_id}?sku=SKU-00042"),
        ("finance", f"/reconciliations/{run_id}?order_number=B-77778"),
        ("finance", f"/reconciliations/{run_id}?status=acknowledged"),
        ("finance", f"/reconciliations/{run_id}/drift/{drift_id}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its name)")
    parser.add_argument("--seed-only", action="store_true", help="seed, keep, do not measure")
    args = parser.parse_args()
    name = f"sm_bench_console_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.pg.rsplit("/", 1)[0] + f"/{name}"
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        upgrade(url)
        started = time.perf_counter()
        run_id = seed(dsn)
        print(f"seed took {time.perf_counter() - started:.0f} s", flush=True)
        if args.seed_only:
            args.keep = True
            return
        lines = measure(url, run_id, args)
        for line in lines:
            print(line)
        if args.record:
            with (ROOT / "bench" / "RESULTS.md").open("a") as results:
                results.write("\n" + "\n".join(lines) + "\n")
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, run_id: int, args: argparse.Namespace) -> list[str]:
    import tempfile

    app = create_app(
        {
            "database_url": url,
            "instance_path": Path(tempfile.mkdtemp(prefix="sm-bench-")),
            "webhook_secrets": ("bench",),
            "api_tokens": ("bench",),
            "allocation": "manual",
            "timezone": "Pacific/Auckland",
        }
    )
    database = app.extensions["stockmirror"].db
    release = release_orders(
        database,
        AllocationConfig(mode="manual"),
        account_id="default",
        order_ids=[500000 + g for g in range(18, 2000, 20)],
        allow_partial=True,
        actor="bench",
    )
    clients = {role: signed_in(app, f"{role}@bench.example", role) for role in ("ops", "finance")}
    start = time.perf_counter()
    first = clients["finance"].get(f"/reconciliations/{run_id}")
    facts_ms = (time.perf_counter() - start) * 1000
    assert first.status_code == 200
    rows = []
    for role, path in pages(app, run_id, release.release_id):
        p50, p95, status = timed(clients[role], path, args.warmup, args.requests)
        rows.append((path, p50, p95, status))
        print(f"{path:80s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {status}", flush=True)
    extra = []
    for label, path in (
        ("drift CSV, 10,000 rows (download)", f"/reconciliations/{run_id}.csv"),
        ("repair preview (50 orders rehearsed)", f"/reconciliations/{run_id}/repair"),
    ):
        p50, p95, status = timed(clients["finance"], path, 1, 5)
        extra.append((label, path, p50, p95, status))
        print(f"{label:80s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {status}", flush=True)
    return report(rows, extra, facts_ms, args)


def report(rows: list, extra: list, facts_ms: float, args: argparse.Namespace) -> list[str]:
    """The RESULTS.md section."""
    worst = max(rows, key=lambda r: r[2])
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"### console — {when}",
        "",
        f"Machine: 2-core VM ({machine()}); PostgreSQL 15 on the same host. Data: {ORDERS:,} orders"
        f" (~200,000 lines), {SKUS:,} SKUs, ~{MOVEMENTS:,} movements, a {DRIFT:,}-row drift report;"
        f" in-process WSGI requests with a signed-in session, {args.warmup} warm-up then"
        f" {args.requests} timed requests per page (server time to the last byte). Load average"
        f" at the end {load} (other work shared the 2 cores).",
        "",
        "| page | p50 ms | p95 ms | status |",
        "|---|---|---|---|",
    ]
    out += [f"| `{p}` | {a:.1f} | {b:.1f} | {s} |" for p, a, b, s in rows]
    out += [
        "",
        f"Every page p95 < {GOAL_MS:.0f} ms: **{'yes' if worst[2] < GOAL_MS else 'no'}**"
        f" (slowest `{worst[0]}` p95 {worst[2]:.1f} ms).",
        f"First view of the report (works out the money facts of its {DRIFT:,} rows once):"
        f" {facts_ms:.0f} ms.",
    ]
    out += [
        f"{label}: p50 {a:.0f} ms, p95 {b:.0f} ms (5 requests; not a page view)."
        for label, _p, a, b, _s in extra
    ]
    return out


if __name__ == "__main__":
    main()
