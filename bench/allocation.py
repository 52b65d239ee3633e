"""Allocation benchmark (issue 5) on PostgreSQL.

    .venv/bin/python bench/allocation.py            # print the figures
    .venv/bin/python bench/allocation.py --record   # also append them to bench/RESULTS.md

1. Bulk release: 10,000 pending orders × 1–4 lines over 1,000 SKUs, released with
   `release_orders` (the service behind POST /api/releases) by one releaser, then the
   same again (fresh state) by 4 concurrent releaser processes with stock made scarce;
   orders/s and an oversell check (allocated ≤ on hand, allocated == Σ live allocations).
2. HTTP: single-order releases `POST /api/orders/{id}/release` of 1-line orders, gunicorn
   2 workers, wrk with 8 connections (each order once), in consecutive runs while
   allocations accumulate (throughput must stay flat), counting errors and non-2xx.
Figures are medians over --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import ensure_wrk, free_port, machine, start_server, write_requests, wrk_requests  # noqa: E402

from app.allocation.config import AllocationConfig  # noqa: E402
from app.allocation.service import release_orders  # noqa: E402
from app.db import Database  # noqa: E402

TOKEN = "bench"
SKUS = [f"SKU-{n:04d}" for n in range(1000)]
CONFIG = AllocationConfig(mode="manual")


def reset(pg: str, dbname: str) -> tuple[str, str]:
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {dbname}")
    dsn = pg.rsplit("/", 1)[0] + f"/{dbname}"
    sa_url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    env = dict(os.environ, DATABASE_URL=sa_url)
    subprocess.run(
        [sys.executable, "-m", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return dsn, sa_url


def seed(
    dsn: str, *, account: str, orders: int, max_lines: int, stock_factor: float, seed_: int
) -> int:
    """Pending orders and receipts (movements + balances), inserted in bulk. Returns the
    number of order lines."""
    rng = random.Random(seed_)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    demand = dict.fromkeys(SKUS, 0)
    order_rows, line_rows = [], []
    for n in range(1, orders + 1):
        order_rows.append(
            (account, n, f"{account}-{n}", now - timedelta(seconds=orders - n), now, now)
        )
        for line_no, sku in enumerate(rng.sample(SKUS, rng.randint(1, max_lines)), start=1):
            qty = rng.randint(1, 3)
            demand[sku] += qty
            line_rows.append((n, line_no, sku, qty))
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO products (sku, tracking, bundle, created_at) "
            "VALUES (%s, 'none', 'none', now()) ON CONFLICT DO NOTHING",
            [(s,) for s in SKUS],
        )
        with cur.copy(
            "COPY orders (account_id, order_id, order_number, order_date, status, "
            "allocation_status, created_at, updated_at) FROM STDIN"
        ) as copy:
            for account_id, oid, number, date, created, updated in order_rows:
                copy.write_row(
                    (account_id, oid, number, date, "PENDING", "UNALLOCATED", created, updated)
                )
        cur.execute("SELECT order_id, id FROM orders WHERE account_id = %s", (account,))
        pk = dict(cur.fetchall())
        with cur.copy(
            "COPY order_lines (order_pk, line_no, sku, quantity, quantity_allocated) FROM STDIN"
        ) as copy:
            for oid, line_no, sku, qty in line_rows:
                copy.write_row((pk[oid], line_no, sku, qty, 0))
        receipts = [
            (f"seed:{account}:{sku}", sku, max(1, int(d * stock_factor)))
            for sku, d in demand.items()
        ]
        cur.executemany(
            "INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, "
            "actor, created_at) VALUES (%s, %s, 'DEFAULT', '', %s, 'receipt', 'seed', 'bench', "
            "now())",
            receipts,
        )
        cur.execute(
            "INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, updated_at) "
            "SELECT sku, location, batch, SUM(quantity), 0, now() FROM stock_movements "
            "GROUP BY sku, location, batch "
            "ON CONFLICT (sku, location, batch) DO UPDATE SET on_hand = EXCLUDED.on_hand"
        )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")  # as autovacuum would after a bulk load
    return len(line_rows)


def check(dsn: str) -> tuple[int, int]:
    """(balances with allocated > on hand, balances whose allocated ≠ Σ live allocations)."""
    with psycopg.connect(dsn) as conn:
        over = conn.execute(
            "SELECT count(*) FROM stock_balances WHERE allocated > on_hand"
        ).fetchone()
        drift = conn.execute(
            "SELECT count(*) FROM stock_balances b LEFT JOIN ("
            " SELECT sku, location, batch, SUM(remaining) AS live FROM allocations"
            " WHERE remaining > 0 GROUP BY sku, location, batch) a"
            " USING (sku, location, batch) WHERE b.allocated <> COALESCE(a.live, 0)"
        ).fetchone()
    return int(over[0] if over else 0), int(drift[0] if drift else 0)


def counts(dsn: str, account: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT allocation_status, count(*) FROM orders WHERE account_id = %s GROUP BY 1",
            (account,),
        ).fetchall()
    return {str(k): int(v) for k, v in rows}


def _database(url: str) -> Database:
    """The database as the app wires it (its stores for the database's kind); a tree
    without app/wiring.py (before 4c363ef) chose its SQL per statement in Database."""
    try:
        from app.config import Settings
        from app.wiring import database
    except ImportError:
        return Database(url)
    return database(Settings.from_env({"DATABASE_URL": url, "STOCKMIRROR_ALLOCATION": "manual"}))


def _releaser(url: str, account: str, ids: list[int], out: mp.Queue) -> None:  # type: ignore[type-arg]
    database = _database(url)
    t0 = time.perf_counter()
    result = release_orders(
        database, CONFIG, account_id=account, order_ids=ids, allow_partial=False, actor="bench"
    )
    out.put((time.perf_counter() - t0, len(result.results)))
    database.dispose()


def bulk(pg: str, orders: int, releasers: int, stock_factor: float, seed_: int) -> dict:
    dsn, url = reset(pg, "sm_bench_alloc")
    seed(dsn, account="bulk", orders=orders, max_lines=4, stock_factor=stock_factor, seed_=seed_)
    ids = list(range(1, orders + 1))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    parts = [ids[i::releasers] for i in range(releasers)]
    procs = [ctx.Process(target=_releaser, args=(url, "bulk", p, queue)) for p in parts]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0 - 0.0
    busy = max(r[0] for r in results)  # releasing time, without process start-up
    over, drift = check(dsn)
    return {
        "rate": orders / busy,
        "wall": wall,
        "over": over,
        "drift": drift,
        "statuses": counts(dsn, "bulk"),
    }


def http_runs(pg: str, seconds: int, runs: int, connections: int, threads: int) -> dict:
    """Single releases over HTTP driven by wrk (a C client: a Python load generator would
    take CPU from the servers on 2 cores), each order released once, in consecutive runs
    of `seconds` while allocations accumulate."""
    wrk = ensure_wrk()
    dsn, url = reset(pg, "sm_bench_alloc_http")
    warm_seconds = 3  # imports, connections, prepared statements, caches: not measured
    per_second = 2500  # more orders than a run can release: a run must not run dry
    slices = [warm_seconds * per_second] + [seconds * per_second] * runs
    seed(dsn, account="default", orders=sum(slices), max_lines=1, stock_factor=1.0, seed_=5)
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        STOCKMIRROR_WEBHOOK_SECRETS="bench-secret",
        STOCKMIRROR_API_TOKENS=TOKEN,
        STOCKMIRROR_ALLOCATION="manual",
    )
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "2", "--backlog", "2048"]
    if threads > 1:
        gunicorn += ["--threads", str(threads)]
    work = Path(tempfile.mkdtemp(prefix="sm-bench-alloc-"))
    server = start_server(
        gunicorn + ["-b", f"127.0.0.1:{port}", "wsgi:app"], ROOT, env, port, work / "server.log"
    )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    ids = list(range(1, sum(slices) + 1))
    random.Random(9).shuffle(ids)
    rates, errors, sent, issued = [], 0, 0, 0
    try:
        start = 0
        for r, size in enumerate(slices):
            prefix = work / f"run{r}"
            requests = [
                (f"/api/orders/{oid}/release", headers, b"{}") for oid in ids[start : start + size]
            ]
            write_requests(prefix, requests, 1)
            start += size
            result = wrk_requests(
                wrk,
                f"http://127.0.0.1:{port}",
                prefix,
                1,
                connections,
                warm_seconds if r == 0 else seconds,
            )
            errors += sum(
                result[k]
                for k in (
                    "status_errors",
                    "connect_errors",
                    "read_errors",
                    "write_errors",
                    "timeouts",
                )
            )
            sent += result["requests"]  # answered
            issued += sum(result["issued"])  # answered, or in flight when wrk stopped
            if r:
                rates.append(result["requests"] / (result["duration_us"] / 1e6))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    over, drift = check(dsn)
    released = sum(n for status, n in counts(dsn, "default").items() if status != "UNALLOCATED")
    return {
        "rates": rates,
        "errors": errors,
        "sent": sent,
        "issued": issued,
        "released": released,
        "over": over,
        "drift": drift,
    }


NO_HTTP: dict = {
    "rates": [],
    "errors": 0,
    "sent": 0,
    "issued": 0,
    "released": 0,
    "over": 0,
    "drift": 0,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--http-seconds", type=int, default=10, help="length of an HTTP run")
    parser.add_argument("--http-runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn threads per worker (1 = sync)"
    )
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--json", help="also write the headline figures to this file")
    args = parser.parse_args()

    single, four = [], []
    for r in range(0 if args.skip_bulk else args.repeats):
        single.append(bulk(args.pg, args.orders, 1, 1.05, 100 + r))
        four.append(bulk(args.pg, args.orders, 4, 0.8, 200 + r))
        print(f"bulk run {r + 1}: 1 releaser {single[-1]}; 4 releasers {four[-1]}", flush=True)
    http = NO_HTTP
    if args.http_runs:  # --http-runs 0: bulk releases only
        http = http_runs(args.pg, args.http_seconds, args.http_runs, args.connections, args.threads)
    print(f"http: {http}", flush=True)

    def med(rows: list[dict], key: str) -> float:
        return statistics.median([row[key] for row in rows]) if rows else 0.0

    oversell = sum(r["over"] + r["drift"] for r in single + four) + http["over"] + http["drift"]
    summary = (
        "| run | orders/s (median) | goal | oversold / drifted balances |\n|---|---|---|---|\n"
        f"| bulk release, 1 releaser, {args.orders} orders × 1–4 lines, 1,000 SKUs | "
        f"{med(single, 'rate'):.0f} | ≥ 1,000 | "
        f"{sum(r['over'] + r['drift'] for r in single)} |\n"
        f"| bulk release, 4 concurrent releasers, stock 80% of demand | "
        f"{med(four, 'rate'):.0f} | zero oversell | "
        f"{sum(r['over'] + r['drift'] for r in four)} |\n"
        f"| HTTP POST /api/orders/{{id}}/release, 1-line orders, gunicorn 2 workers, "
        f"wrk {args.connections} connections, runs of {args.http_seconds} s as allocations accumulate | "
        + " → ".join(f"{x:.0f}" for x in http["rates"])
        + f" | ≥ 600, flat | {http['over'] + http['drift']} |\n\n"
        f"HTTP: {http['sent']} releases answered ({http['issued']} sent), "
        f"{http['released']} orders released, "
        f"{http['errors']} errors or non-2xx answers. "
        f"4-releaser end states (last run): {four[-1]['statuses'] if four else '-'}. "
        f"Oversold or drifted balances over all runs: {oversell}.\n"
    )
    if args.json:
        figures = {
            "bulk 1 releaser orders/s": med(single, "rate"),
            "bulk 4 releasers orders/s": med(four, "rate"),
            "HTTP single releases/s": statistics.median(http["rates"] or [0.0]),
        }
        Path(args.json).write_text(json.dumps(figures))
    print()
    print(summary)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write(
                f"\n### allocation — {stamp}\n\nMachine: {machine()}; PostgreSQL on the same "
                f"host; {args.repeats} repeats of the bulk runs.\n\n{summary}"
            )
    lost = not http["sent"] <= http["released"] <= http["issued"]
    if oversell or http["errors"] or lost:
        raise SystemExit("oversell, drift, errors, or releases lost")


if __name__ == "__main__":
    main()
