"""Reconciliation benchmark: 100,000 shipped orders, 1% drift, on PostgreSQL.

    .venv/bin/python bench/reconcile.py                 # 100k orders, 3 runs, median
    .venv/bin/python bench/reconcile.py --record        # also append to bench/RESULTS.md
    .venv/bin/python bench/reconcile.py --shipped 5000 --runs 1   # a quick look

Starts the fake Starshipit (bench/reconcile_fake_starshipit.py, its own process, no rate
limit), seeds a fresh PostgreSQL database with the mirror and ledger the fake implies
(bulk COPY: clean orders shipped and in the ledger, the injected drift not), then runs
`stockmirror reconcile run --since --until` as a child process and measures wall time and
the child's peak RSS (wait4). Afterwards: every injected drift must be found, nothing
else reported, and API calls ≤ pages + drifted orders that need detail.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import reconcile_fake_starshipit as fake  # noqa: E402

from app.migrate import upgrade  # noqa: E402

ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "sm_bench_reconcile"
SINCE = "2026-11-01T00:00:00Z"
UNTIL = "2026-11-22T00:00:00Z"
PORT = 8765
NOW = datetime(2026, 11, 22, tzinfo=UTC)
DETAIL_CATEGORIES = {
    "missing_shipment",
    "unknown_order",
    "quantity_mismatch",
    "unexpected_shipment",
}


def dsn(name: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def fresh_database() -> str:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = dsn(DB_NAME).replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    return url


def seed(shipped: int) -> None:
    """The mirror and ledger as webhooks would have left them, minus the injected drift."""
    orders: list[tuple] = []  # (order_id, number, status, shipped_at or None, deleted)
    shipped_units: dict[int, dict[str, int]] = {}
    for i in range(shipped):
        oid = fake.SHIPPED_BASE + i
        kind = fake.kind_of_shipped(i)
        if kind == "unknown_order":
            continue
        at = fake.shipped_date(i)
        units: dict[str, int] = {}
        for sku, qty in fake.items_for(oid):
            units[sku] = units.get(sku, 0) + qty
        if kind == "missing_shipment":
            orders.append((oid, "PENDING", None, False))
            continue
        if kind == "quantity_mismatch":
            first = fake.items_for(oid)[0][0]
            units[first] -= 1
        shipped_units[oid] = units
        status = "PARTIALLY_SHIPPED" if kind == "quantity_mismatch" else "SHIPPED"
        orders.append((oid, status, at, False))
    for j in range(fake.UNLISTED):
        oid = fake.UNLISTED_BASE + j
        units = {}
        for sku, qty in fake.items_for(oid):
            units[sku] = units.get(sku, 0) + qty
        shipped_units[oid] = units
        orders.append((oid, "SHIPPED", fake.SHIPPED_FROM + timedelta(hours=1, seconds=j), False))
    for j in range(fake.UNSHIPPED):
        oid = fake.UNSHIPPED_BASE + j
        kind = fake.kind_of_unshipped(j)
        if kind == "unshipped_missing":
            continue
        orders.append(
            (
                oid,
                "CANCELLED" if kind == "status_mismatch" else "PENDING",
                None,
                kind == "status_mismatch",
            )
        )

    created = NOW - timedelta(days=30)
    with psycopg.connect(dsn(DB_NAME)) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY orders (account_id, order_id, order_number, status, allocation_status, "
                "content_at, content_event_id, shipped_at, shipped_event_id, deleted_at, "
                "deleted_event_id, created_at, updated_at) FROM STDIN"
            ) as copy:
                for oid, status, at, deleted in orders:
                    content_at = at or created
                    copy.write_row(
                        (
                            "default",
                            oid,
                            f"B-{oid}",
                            status,
                            "UNALLOCATED",
                            content_at,
                            f"seed-{oid}",
                            at,
                            f"seed-{oid}" if at else None,
                            created + timedelta(hours=1) if deleted else None,
                            f"del-{oid}" if deleted else None,
                            created,
                            created,
                        )
                    )
            pks = dict(cur.execute("SELECT order_id, id FROM orders").fetchall())
            with cur.copy(
                "COPY order_lines (order_pk, line_no, item_id, sku, quantity, quantity_allocated) "
                "FROM STDIN"
            ) as copy:
                for oid, pk in pks.items():
                    for n, (sku, qty) in enumerate(fake.items_for(oid)):
                        copy.write_row((pk, n + 1, oid * 10 + n + 4_000_000_000, sku, qty, 0))
            skus = [f"SKU-{k:04d}" for k in range(fake.SKUS)]
            with cur.copy("COPY products (sku, created_at) FROM STDIN") as copy:
                for sku in skus:
                    copy.write_row((sku, created))
            totals: Counter[str] = Counter()
            with cur.copy(
                "COPY stock_movements (key, sku, location, batch, quantity, type, reference, "
                "account_id, order_id, event_id, actor, created_at) FROM STDIN"
            ) as copy:
                for sku in skus:
                    copy.write_row(
                        (
                            f"manual:seed-{sku}",
                            sku,
                            "DEFAULT",
                            "",
                            1_000_000,
                            "receipt",
                            f"seed-{sku}",
                            None,
                            None,
                            None,
                            "bench",
                            created,
                        )
                    )
                    totals[sku] += 1_000_000
                for oid, units in shipped_units.items():
                    for sku, qty in sorted(units.items()):
                        copy.write_row(
                            (
                                f"shipment:default:{oid}:{sku}:seed-{oid}",
                                sku,
                                "DEFAULT",
                                "",
                                -qty,
                                "shipment",
                                f"B-{oid}",
                                "default",
                                oid,
                                f"seed-{oid}",
                                "bench",
                                created,
                            )
                        )
                        totals[sku] -= qty
            with cur.copy(
                "COPY stock_balances (sku, location, batch, on_hand, allocated, updated_at) FROM STDIN"
            ) as copy:
                for sku in skus:
                    copy.write_row((sku, "DEFAULT", "", totals[sku], 0, created))
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    print(f"seeded {len(orders):,} orders, {len(shipped_units):,} with shipments", flush=True)


def start_fake(shipped: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "reconcile_fake_starshipit.py"),
            "--port",
            str(PORT),
            "--shipped",
            str(shipped),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "fake starshipit on ..."
    return proc


def stats() -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/__stats", timeout=5) as answer:
        import json

        return json.loads(answer.read())


def run_once(url: str) -> tuple[float, int, int, str]:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        STARSHIPIT_API_URL=f"http://127.0.0.1:{PORT}",
        STARSHIPIT_API_KEY=fake.API_KEY,
        STARSHIPIT_SUBSCRIPTION_KEY=fake.SUB_KEY,
        STARSHIPIT_RATE_LIMIT="100000",
    )
    cmd = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "reconcile",
        "run",
        "--since",
        SINCE,
        "--until",
        UNTIL,
    ]
    # /usr/bin/time reports the child's own peak RSS (the benchmark process, which holds
    # the seeding data, must not leak its high-water mark into the figure through fork).
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    rss_kb = int(proc.stderr.rsplit("MAXRSS_KB=", 1)[1].split()[0])
    return elapsed, rss_kb // 1024, proc.returncode, proc.stdout


def check(url: str, shipped: int) -> dict[str, object]:
    expected = set(fake.expected_drift(shipped))
    with psycopg.connect(dsn(DB_NAME)) as conn:
        run_id, api_calls, pages, checked, matched = conn.execute(
            "SELECT id, api_calls, pages, checked, matched FROM reconciliation_runs "
            "WHERE status = 'done' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        found = set(
            conn.execute(
                "SELECT DISTINCT category, order_id FROM reconciliation_drift WHERE run_id = %s",
                (run_id,),
            ).fetchall()
        )
    missed = expected - found
    false_positives = found - expected
    detail_orders = sum(1 for c, _ in expected if c in DETAIL_CATEGORIES)
    return {
        "run_id": run_id,
        "api_calls": api_calls,
        "pages": pages,
        "detail_orders": detail_orders,
        "bound_ok": api_calls <= pages + detail_orders,
        "injected": len(expected),
        "found": len(found & expected),
        "missed": len(missed),
        "false_positives": len(false_positives),
        "checked": checked,
        "matched": matched,
        "by_category": dict(sorted(Counter(c for c, _ in found).items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipped", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    url = fresh_database()
    t0 = time.perf_counter()
    seed(args.shipped)
    print(f"seed took {time.perf_counter() - t0:.1f}s", flush=True)
    server = start_fake(args.shipped)
    results = []
    try:
        for n in range(args.runs):
            elapsed, rss_mb, code, output = run_once(url)
            verdict = check(url, args.shipped)
            results.append((elapsed, rss_mb, code, verdict))
            print(
                f"run {n + 1}: {elapsed:.1f}s, peak RSS {rss_mb} MB, exit {code}, {verdict}",
                flush=True,
            )
        print(output)
        print("fake Starshipit request counts:", stats())
    finally:
        server.terminate()
        server.wait()
    times = [r[0] for r in results]
    rss = [r[1] for r in results]
    last = results[-1][3]
    ok = all(
        r[3]["missed"] == 0 and r[3]["false_positives"] == 0 and r[3]["bound_ok"] for r in results
    )
    summary = (
        f"median {statistics.median(times):.1f}s (runs: {', '.join(f'{t:.1f}' for t in times)}), "
        f"peak RSS median {statistics.median(rss):.0f} MB (max {max(rss)}), "
        f"API calls {last['api_calls']} = pages {last['pages']} + details "
        f"{last['api_calls'] - last['pages']} (bound: pages + {last['detail_orders']} drifted), "
        f"drift found {last['found']}/{last['injected']}, missed {last['missed']}, "
        f"false positives {last['false_positives']}, exit code {results[-1][2]}"
    )
    print(("PASS " if ok else "FAIL ") + summary)
    if args.record:
        section = (
            f"\n## reconcile — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
            f"{os.cpu_count()} cores, PostgreSQL\n\n"
            f"`bench/reconcile.py --shipped {args.shipped} --runs {args.runs}`: "
            f"{args.shipped:,} shipped orders (1% drift: missing / unknown / quantity), plus "
            f"{fake.UNLISTED} ledger-only shipments and {fake.UNSHIPPED:,} unshipped orders "
            f"(5% unshipped_missing, 5% status_mismatch); fake Starshipit in its own process, "
            f"no rate limit; `stockmirror reconcile run` as a child process.\n\n"
            f"- {'PASS' if ok else 'FAIL'}: {summary}\n"
            f"- drift by category: {last['by_category']}; checked {last['checked']:,}, "
            f"matched {last['matched']:,}\n"
            f"- goal: < 60 s, peak RSS < 250 MB, API calls ≤ pages + drifted orders, every "
            f"injected drift found, no false positives\n"
        )
        with open(ROOT / "bench" / "RESULTS.md", "a") as handle:
            handle.write(section)
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
