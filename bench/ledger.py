"""Ledger benchmark (issue 3) on PostgreSQL (and optionally SQLite).

    .venv/bin/python bench/ledger.py            # print the figures
    .venv/bin/python bench/ledger.py --record   # also append them to bench/RESULTS.md

A ledger of 10,000 SKUs over 5 locations and 1,000,000 movements is generated in the
database (INSERT … SELECT, then balances as their GROUP BY), then:
1. `GET /api/stock/{sku}` latency for random SKUs, in-process through the WSGI app
   (Flask test client: routing, auth, one read transaction, JSON; no HTTP server),
   p50/p99 per run (goal p99 < 5 ms).
2. `stockmirror ledger verify` as its own process: wall time and peak RSS
   (goal < 20 s, < 200 MB).
Figures are medians over --repeats runs.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import machine  # noqa: E402

from app import create_app  # noqa: E402
from app.migrate import upgrade  # noqa: E402

TOKEN = "bench"
SKUS = 10_000
MOVEMENTS = 1_000_000
LOCATIONS = ("DEFAULT", "BULK-1", "BULK-2", "PF-1", "PF-2")

PG_FILL = """
INSERT INTO products (sku, tracking, bundle, created_at)
SELECT 'SKU-' || lpad(g::text, 5, '0'), 'none', 'none', now() FROM generate_series(0, :skus - 1) g;
INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, actor, created_at)
SELECT 'bench:' || g,
       'SKU-' || lpad((g % :skus)::text, 5, '0'),
       (ARRAY['DEFAULT','BULK-1','BULK-2','PF-1','PF-2'])[1 + (g / :skus) % 5],
       '',
       CASE WHEN g % 3 = 0 THEN -1 - (g % 4) ELSE 1 + (g % 7) END,
       CASE WHEN g % 3 = 0 THEN 'shipment' ELSE 'receipt' END,
       'bench-' || g, 'bench', now()
FROM generate_series(0, :movements - 1) g;
"""
SQLITE_FILL = """
WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < :skus - 1)
INSERT INTO products (sku, tracking, bundle, created_at)
SELECT 'SKU-' || substr('0000' || n, -5), 'none', 'none', CURRENT_TIMESTAMP FROM g;
WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < :movements - 1)
INSERT INTO stock_movements (key, sku, location, batch, quantity, type, reference, actor, created_at)
SELECT 'bench:' || n,
       'SKU-' || substr('0000' || (n % :skus), -5),
       CASE (n / :skus) % 5 WHEN 0 THEN 'DEFAULT' WHEN 1 THEN 'BULK-1' WHEN 2 THEN 'BULK-2'
            WHEN 3 THEN 'PF-1' ELSE 'PF-2' END,
       '',
       CASE WHEN n % 3 = 0 THEN -1 - (n % 4) ELSE 1 + (n % 7) END,
       CASE WHEN n % 3 = 0 THEN 'shipment' ELSE 'receipt' END,
       'bench-' || n, 'bench', CURRENT_TIMESTAMP
FROM g;
"""
BALANCES = """
INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, updated_at)
SELECT sku, location, batch, SUM(quantity), 0, CURRENT_TIMESTAMP
FROM stock_movements GROUP BY sku, location, batch
"""


def build(url: str) -> float:
    started = time.perf_counter()
    upgrade(url)
    engine = sa.create_engine(url)
    sqlite = url.startswith("sqlite")
    with engine.begin() as conn:
        for code in LOCATIONS[1:]:
            conn.execute(
                sa.text(
                    "INSERT INTO locations (code, kind, warehouse, sequence, created_at) "
                    "VALUES (:c, :k, 'MAIN', 0, CURRENT_TIMESTAMP)"
                ),
                {"c": code, "k": "pick_face" if code.startswith("PF") else "bulk"},
            )
        for statement in (SQLITE_FILL if sqlite else PG_FILL).split(";"):
            if statement.strip():
                conn.execute(sa.text(statement), {"skus": SKUS, "movements": MOVEMENTS})
        conn.execute(sa.text(BALANCES))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            sa.text("ANALYZE" if sqlite else "VACUUM ANALYZE")
        )
        count = conn.execute(sa.text("SELECT count(*) FROM stock_movements")).scalar_one()
    engine.dispose()
    assert count == MOVEMENTS, count
    return time.perf_counter() - started


def stock_latency(url: str, requests: int) -> tuple[float, float]:
    app = create_app(
        {
            "database_url": url,
            "api_tokens": (TOKEN,),
            "webhook_secrets": ("x",),
            "instance_path": ROOT / "instance",
        }
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    rng = random.Random(7)
    for _ in range(200):  # warm up the pool and caches
        client.get(f"/api/stock/SKU-{rng.randrange(SKUS):05d}", headers=headers)
    samples = []
    for _ in range(requests):
        sku = f"SKU-{rng.randrange(SKUS):05d}"
        started = time.perf_counter()
        response = client.get(f"/api/stock/{sku}", headers=headers)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_json()
        assert len(response.get_json()["locations"]) == 5
    app.extensions["stockmirror"].db.dispose()
    samples.sort()
    return samples[len(samples) // 2] * 1000, samples[int(len(samples) * 0.99)] * 1000


def floor_latency(url: str, requests: int) -> tuple[float, float]:
    """Reference in the same run: an empty read transaction (BEGIN; SELECT 1; ROLLBACK)
    through the same Database class — the round-trip floor under any API read."""
    from app.db import Database

    database = Database(url)
    samples = []
    for n in range(requests + 200):
        started = time.perf_counter()
        with database.read() as session:
            session.connection().exec_driver_sql("SELECT 1")
        if n >= 200:
            samples.append(time.perf_counter() - started)
    database.dispose()
    samples.sort()
    return samples[len(samples) // 2] * 1000, samples[int(len(samples) * 0.99)] * 1000


def verify_run(url: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MB of the verify process, summary line)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "app", "ledger", "verify"],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=url),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    line = result.stdout.strip().splitlines()[-1]
    peak = re.search(r"peak memory (\d+) MB", line)
    return elapsed, float(peak.group(1)) if peak else float("nan"), line


def run(url: str, label: str, repeats: int, requests: int) -> list[str]:
    print(f"[{label}] building {SKUS:,} SKUs / {MOVEMENTS:,} movements …", flush=True)
    built = build(url)
    print(f"[{label}] built in {built:.0f}s", flush=True)
    p50s, p99s, times, peaks, f50s, f99s = [], [], [], [], [], []
    for n in range(repeats):
        f50, f99 = floor_latency(url, requests)
        f50s.append(f50)
        f99s.append(f99)
        p50, p99 = stock_latency(url, requests)
        seconds, peak, line = verify_run(url)
        p50s.append(p50)
        p99s.append(p99)
        times.append(seconds)
        peaks.append(peak)
        print(
            f"[{label}] run {n + 1}: stock p50 {p50:.2f} ms p99 {p99:.2f} ms "
            f"(empty read tx p50 {f50:.2f} p99 {f99:.2f}); "
            f"verify {seconds:.1f}s peak {peak:.0f} MB ({line})",
            flush=True,
        )
    med = statistics.median
    return [
        f"| {label} | GET /api/stock/{{sku}} p50 | {med(p50s):.2f} ms | |",
        f"| {label} | GET /api/stock/{{sku}} p99 | {med(p99s):.2f} ms | < 5 ms |",
        f"| {label} | reference: empty read transaction p50 / p99 | "
        f"{med(f50s):.2f} / {med(f99s):.2f} ms | |",
        f"| {label} | ledger verify time | {med(times):.1f} s | < 20 s |",
        f"| {label} | ledger verify peak RSS | {med(peaks):.0f} MB | < 200 MB |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="admin URL; a scratch database bench_ledger is created and dropped",
    )
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--movements", type=int, default=MOVEMENTS, help="smaller for a smoke run")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    globals()["MOVEMENTS"] = args.movements

    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS bench_ledger WITH (FORCE)")
        conn.exec_driver_sql("CREATE DATABASE bench_ledger")
    url = sa.engine.make_url(args.pg).set(database="bench_ledger").render_as_string(False)
    rows: list[str] = []
    try:
        rows += run(url, "PostgreSQL", args.repeats, args.requests)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS bench_ledger WITH (FORCE)")
        admin.dispose()
    if args.sqlite:
        path = Path("/tmp/bench_ledger.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        try:
            rows += run(f"sqlite:///{path}", "SQLite", args.repeats, args.requests)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    section = [
        "",
        f"## Ledger (issue 3) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`bench/ledger.py --repeats {args.repeats} --requests {args.requests}`"
        f"{' --sqlite' if args.sqlite else ''}; {machine()}.",
        f"{SKUS:,} SKUs × 5 locations, {MOVEMENTS:,} movements; medians of {args.repeats} runs. "
        "Stock latency is in-process (Flask test client, no HTTP server); verify runs as its "
        f"own `stockmirror ledger verify` process (bench driver RSS {own:.0f} MB, not counted).",
        "",
        "| database | measure | median | goal |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    print("\n".join(section))
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n".join(section))


if __name__ == "__main__":
    main()
