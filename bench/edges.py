"""Request-edge benchmark: large stock CSV imports and stocktakes naming many SKUs.

    .venv/bin/python bench/edges.py                 # SQLite and PostgreSQL, print figures
    .venv/bin/python bench/edges.py --record        # also append them to bench/RESULTS.md
    .venv/bin/python bench/edges.py --sizes 1000,4000

For each size N, in a fresh database: a CSV of N rows (distinct SKUs) is imported
(`import_stock`, the code behind `stockmirror stock import` and `POST /api/stock/import`),
imported again (a no-op), and a stocktake naming the N SKUs is opened. Linear work shows
as a constant time per row across sizes; quadratic work as a time per row that grows with
N. While the first import runs on SQLite, a second thread times single-row writes (what a
webhook waits for) to show how long the import holds the write lock.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import machine  # noqa: E402

from app.db import Database  # noqa: E402
from app.ledger.csvio import import_stock  # noqa: E402
from app.ledger.stocktake import open_stocktake  # noqa: E402
from app.migrate import upgrade  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def fresh_database(kind: str, tmp: Path) -> tuple[str, object]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp / uuid.uuid4().hex}.db"
        upgrade(url)
        return url, None
    name = f"sm_bench_edges_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url, (admin, name)


def drop(handle: object) -> None:
    if handle is None:
        return
    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def writer_waits(db: Database, stop: threading.Event, waits: list[float]) -> None:
    """Single-row write transactions, back to back: how long each waited."""
    while not stop.is_set():
        started = time.perf_counter()
        with db.write() as session:
            session.execute(sa.text("SELECT 1"))
        waits.append(time.perf_counter() - started)
        time.sleep(0.01)


def run(kind: str, n: int, tmp: Path) -> dict[str, float]:
    url, handle = fresh_database(kind, tmp)
    db = Database(url)
    try:
        text = "sku,location,quantity\n" + "".join(
            f"B{i:07d},DEFAULT,{i % 9 + 1}\n" for i in range(n)
        )
        waits: list[float] = []
        stop = threading.Event()
        probe = threading.Thread(target=writer_waits, args=(db, stop, waits))
        probe.start()
        started = time.perf_counter()
        result = import_stock(db, text, actor="bench")
        first = time.perf_counter() - started
        stop.set()
        probe.join()
        assert result.movements == n
        started = time.perf_counter()
        assert import_stock(db, text, actor="bench").already_imported
        again = time.perf_counter() - started
        skus = [f"B{i:07d}" for i in range(n)]
        started = time.perf_counter()
        with db.write() as session:
            open_stocktake(session, location="DEFAULT", skus=skus, actor="bench")
        stocktake = time.perf_counter() - started
        return {
            "import_s": first,
            "us_per_row": first / n * 1e6,
            "again_s": again,
            "stocktake_s": stocktake,
            "longest_wait_s": max(waits) if waits else 0.0,
            "median_wait_ms": statistics.median(waits) * 1000 if waits else 0.0,
        }
    finally:
        db.dispose()
        drop(handle)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,40000")
    parser.add_argument("--kinds", default="sqlite,postgresql")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.kinds.split(","):
            for n in sizes:
                figures = run(kind, n, Path(folder))
                rows.append((kind, n, figures))
                print(kind, n, {k: round(v, 2) for k, v in figures.items()}, flush=True)
    if args.record:
        record(rows)


def record(rows: list[tuple[str, int, dict[str, float]]]) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\n### request edges: CSV import and stocktake — {now}\n",
        f"Machine: {machine()}.\n",
        "| database | rows / SKUs | import s | µs per row | same file again s | "
        "stocktake naming every SKU s | longest wait of a concurrent write s |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, n, f in rows:
        lines.append(
            f"| {kind} | {n:,} | {f['import_s']:.1f} | {f['us_per_row']:.0f} | "
            f"{f['again_s']:.1f} | {f['stocktake_s']:.1f} | {f['longest_wait_s']:.2f} |"
        )
    with open(ROOT / "bench" / "RESULTS.md", "a") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
