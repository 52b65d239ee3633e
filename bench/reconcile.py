"""Reconciliation benchmark: 100,000 shipped orders, 1% drift, a flaky Starshipit, on
PostgreSQL.

    .venv/bin/python bench/reconcile.py                        # 100k orders, 1% faults
    .venv/bin/python bench/reconcile.py --record               # also append to RESULTS.md
    .venv/bin/python bench/reconcile.py --shipped 5000 --runs 1   # a quick look

Starts the fake Starshipit (bench/reconcile_fake_starshipit.py, its own process, a free
port, no rate limit) answering `--faults` of its requests (default 1%) with a 503, a 429
or a `success: false`, in turn; seeds a fresh PostgreSQL database (a unique name, dropped
at the end) with the mirror and ledger the fake implies (bulk COPY: clean orders shipped
and in the ledger, the injected drift not; some orders carry a non-stock line and a
quantity-0 line), then:

1. runs `stockmirror reconcile run --since --until` as a child process `--runs` times,
   measuring wall time and the child's peak RSS;
2. runs it once more, kills it with SIGKILL a third of the way through the shipped
   pages, waits for its lease to run out (`interrupted`), and resumes it with
   `stockmirror reconcile resume ID`.

Every run, the resumed one included, must find every injected drift, report nothing
else and nothing twice, and make at most pages + drifted orders + faults API calls; the
resume must start at the page the killed run was on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
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
DB_NAME = f"sm_bench_reconcile_{uuid.uuid4().hex[:8]}"
SINCE = "2026-11-01T00:00:00Z"
UNTIL = "2026-11-22T00:00:00Z"
NOW = datetime(2026, 11, 22, tzinfo=UTC)
LEASE_SECONDS = 5  # the killed run is found interrupted this long after it died
DETAIL_CATEGORIES = {
    "missing_shipment",
    "unknown_order",
    "quantity_mismatch",
    "unexpected_shipment",
}
CLI = [sys.executable, "-c", "from app.cli import main; main()"]


def dsn(name: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def fresh_database() -> str:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = dsn(DB_NAME).replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    return url


def drop_database() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def mirror_orders(shipped: int) -> tuple[list[tuple], dict[int, dict[str, int]]]:
    """(order_id, status, shipped_at, deleted, non-stock units shipped) of every mirrored
    order, and the ledger's shipped units per order, as webhooks would have left them
    minus the injected drift."""
    orders: list[tuple] = []
    shipped_units: dict[int, dict[str, int]] = {}

    def units_of(oid: int) -> dict[str, int]:
        units: dict[str, int] = {}
        for sku, qty in fake.items_for(oid):
            units[sku] = units.get(sku, 0) + qty
        return units

    def nonstock(oid: int) -> int:
        return sum(q for sku, q in fake.extra_lines(oid) if sku is None)

    for i in range(shipped):
        oid = fake.SHIPPED_BASE + i
        kind = fake.kind_of_shipped(i)
        if kind == "unknown_order":
            continue
        if kind == "missing_shipment":
            orders.append((oid, "PENDING", None, False, 0))
            continue
        units = units_of(oid)
        if kind == "quantity_mismatch":
            units[fake.items_for(oid)[0][0]] -= 1
        shipped_units[oid] = units
        status = "PARTIALLY_SHIPPED" if kind == "quantity_mismatch" else "SHIPPED"
        orders.append((oid, status, fake.shipped_date(i), False, nonstock(oid)))
    for j in range(fake.UNLISTED):
        oid = fake.UNLISTED_BASE + j
        shipped_units[oid] = units_of(oid)
        at = fake.SHIPPED_FROM + timedelta(hours=1, seconds=j)
        orders.append((oid, "SHIPPED", at, False, nonstock(oid)))
    for j in range(fake.UNSHIPPED):
        oid = fake.UNSHIPPED_BASE + j
        kind = fake.kind_of_unshipped(j)
        if kind != "unshipped_missing":
            deleted = kind == "status_mismatch"
            orders.append((oid, "CANCELLED" if deleted else "PENDING", None, deleted, 0))
    return orders, shipped_units


def seed(shipped: int) -> None:
    orders, shipped_units = mirror_orders(shipped)
    created = NOW - timedelta(days=30)
    with psycopg.connect(dsn(DB_NAME)) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY orders (account_id, order_id, order_number, status, allocation_status, "
                "content_at, content_event_id, shipped_at, shipped_event_id, deleted_at, "
                "deleted_event_id, nonstock_shipped, created_at, updated_at) FROM STDIN"
            ) as copy:
                for oid, status, at, deleted, nonstock in orders:
                    copy.write_row(
                        (
                            "default",
                            oid,
                            f"B-{oid}",
                            status,
                            "UNALLOCATED",
                            at or created,
                            f"seed-{oid}",
                            at,
                            f"seed-{oid}" if at else None,
                            created + timedelta(hours=1) if deleted else None,
                            f"del-{oid}" if deleted else None,
                            nonstock,
                            created,
                            created,
                        )
                    )
            pks = dict(cur.execute("SELECT order_id, id FROM orders").fetchall())
            seed_lines(cur, pks)
            seed_ledger(cur, shipped_units, created)
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    print(f"seeded {len(orders):,} orders, {len(shipped_units):,} with shipments", flush=True)


def seed_lines(cur: psycopg.Cursor, pks: dict[int, int]) -> None:
    with cur.copy(
        "COPY order_lines (order_pk, line_no, item_id, sku, description, quantity, "
        "quantity_allocated) FROM STDIN"
    ) as copy:
        for oid, pk in pks.items():
            lines = [*fake.items_for(oid), *fake.extra_lines(oid)]
            for n, (sku, qty) in enumerate(lines):
                what = f"item {sku}" if sku else "custom engraving"
                copy.write_row((pk, n + 1, oid * 10 + n + 4_000_000_000, sku, what, qty, 0))


def seed_ledger(
    cur: psycopg.Cursor, shipped_units: dict[int, dict[str, int]], at: datetime
) -> None:
    skus = [f"SKU-{k:04d}" for k in range(fake.SKUS)]
    with cur.copy("COPY products (sku, created_at) FROM STDIN") as copy:
        for sku in skus:
            copy.write_row((sku, at))
    totals: Counter[str] = Counter()
    with cur.copy(
        "COPY stock_movements (key, sku, location, batch, quantity, type, reference, "
        "account_id, order_id, event_id, actor, created_at) FROM STDIN"
    ) as copy:
        for sku in skus:
            row = (f"manual:seed-{sku}", sku, "DEFAULT", "", 1_000_000, "receipt")
            copy.write_row((*row, f"seed-{sku}", None, None, None, "bench", at))
            totals[sku] += 1_000_000
        for oid, units in shipped_units.items():
            for sku, qty in sorted(units.items()):
                key = f"shipment:default:{oid}:{sku}:seed-{oid}"
                row = (key, sku, "DEFAULT", "", -qty, "shipment", f"B-{oid}", "default", oid)
                copy.write_row((*row, f"seed-{oid}", "bench", at))
                totals[sku] -= qty
    with cur.copy(
        "COPY stock_balances (sku, location, batch, on_hand, allocated, updated_at) FROM STDIN"
    ) as copy:
        for sku in skus:
            copy.write_row((sku, "DEFAULT", "", totals[sku], 0, at))


def start_fake(shipped: int, faults: float) -> tuple[subprocess.Popen, int]:
    script = str(ROOT / "bench" / "reconcile_fake_starshipit.py")
    args = ["--port", "0", "--shipped", str(shipped), "--faults", str(faults)]
    proc = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().rsplit(":", 1)[1])  # "fake starshipit on 127.0.0.1:P"
    return proc, port


def fake_call(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        return json.loads(answer.read())


def env_for(url: str, port: int) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=url,
        STARSHIPIT_API_URL=f"http://127.0.0.1:{port}",
        STARSHIPIT_API_KEY=fake.API_KEY,
        STARSHIPIT_SUBSCRIPTION_KEY=fake.SUB_KEY,
        STARSHIPIT_RATE_LIMIT="100000",
        STOCKMIRROR_RECONCILE_LEASE=str(LEASE_SECONDS),
    )


def run_once(url: str, port: int, *args: str) -> tuple[float, int, int, str]:
    """(seconds, peak RSS MB, exit code, output) of one `stockmirror reconcile` command."""
    # /usr/bin/time reports the child's own peak RSS (the benchmark process, which holds
    # the seeding data, must not leak its high-water mark into the figure through fork).
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *CLI, "reconcile", *args]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env_for(url, port), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    rss_kb = int(proc.stderr.rsplit("MAXRSS_KB=", 1)[1].split()[0])
    return elapsed, rss_kb // 1024, proc.returncode, proc.stdout


def newest_run(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "SELECT id, status, progress, lease_until < now() AS expired FROM reconciliation_runs "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()


def kill_mid_run(url: str, port: int, shipped: int) -> dict[str, object]:
    """Start a run, SIGKILL it a third of the way through the shipped pages, wait for its
    lease to run out. Returns the run id and where it was."""
    total_pages = -(-shipped // 250)
    target = max(2, total_pages // 3)
    proc = subprocess.Popen(
        [*CLI, "reconcile", "run", "--since", SINCE, "--until", UNTIL],
        cwd=ROOT,
        env=env_for(url, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with psycopg.connect(dsn(DB_NAME), autocommit=True) as conn:
        while True:
            row = newest_run(conn)
            if row and row[1] == "running" and (row[2] or {}).get("page", 1) > target:
                break
            if proc.poll() is not None:
                raise RuntimeError("the run ended before it could be killed")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run_id, status, progress, _ = newest_run(conn)
        killed_at = time.perf_counter()
        while not newest_run(conn)[3]:
            time.sleep(0.2)
        waited = time.perf_counter() - killed_at
    return {"run_id": run_id, "status": status, "progress": progress, "lease_wait": waited}


def check(shipped: int, faults: int, run_id: int | None = None) -> dict[str, object]:
    expected = set(fake.expected_drift(shipped))
    with psycopg.connect(dsn(DB_NAME)) as conn:
        where = "id = %s" if run_id else "status = 'done' ORDER BY id DESC LIMIT 1"
        run_id, status, api_calls, pages, checked, matched = conn.execute(
            f"SELECT id, status, api_calls, pages, checked, matched FROM reconciliation_runs "  # noqa: S608
            f"WHERE {where}",
            (run_id,) if run_id else (),
        ).fetchone()
        rows = conn.execute(
            "SELECT category, order_id, sku FROM reconciliation_drift WHERE run_id = %s",
            (run_id,),
        ).fetchall()
    found = {(c, o) for c, o, _ in rows}
    twice = sum(n - 1 for n in Counter(rows).values() if n > 1)
    detail_orders = sum(1 for c, _ in expected if c in DETAIL_CATEGORIES)
    return {
        "run_id": run_id,
        "status": status,
        "api_calls": api_calls,
        "pages": pages,
        "detail_orders": detail_orders,
        "faults": faults,
        "bound_ok": api_calls <= pages + detail_orders + faults,
        "injected": len(expected),
        "found": len(found & expected),
        "missed": len(expected - found),
        "false_positives": len(found - expected),
        "reported_twice": twice,
        "checked": checked,
        "matched": matched,
        "by_category": dict(sorted(Counter(c for c, _ in found).items())),
    }


def faults_of(stats: dict) -> int:
    return sum(v for k, v in stats.items() if k.startswith("fault "))


def passed(verdict: dict[str, object]) -> bool:
    return (
        verdict["status"] == "done"
        and verdict["missed"] == 0
        and verdict["false_positives"] == 0
        and verdict["reported_twice"] == 0
        and bool(verdict["bound_ok"])
    )


def timed_runs(url: str, port: int, args: argparse.Namespace) -> list[tuple]:
    results = []
    for n in range(args.runs):
        fake_call(port, "/__reset")
        elapsed, rss_mb, code, _ = run_once(url, port, "run", "--since", SINCE, "--until", UNTIL)
        stats = fake_call(port, "/__stats")
        verdict = check(args.shipped, faults_of(stats))
        results.append((elapsed, rss_mb, code, verdict, stats))
        print(f"run {n + 1}: {elapsed:.1f}s, {rss_mb} MB, exit {code}, {verdict}", flush=True)
    return results


def kill_and_resume(url: str, port: int, shipped: int) -> dict[str, object]:
    fake_call(port, "/__reset")
    killed = kill_mid_run(url, port, shipped)
    before = fake_call(port, "/__stats")
    fake_call(port, "/__reset")
    elapsed, rss_mb, code, output = run_once(url, port, "resume", str(killed["run_id"]))
    after = fake_call(port, "/__stats")
    verdict = check(shipped, faults_of(before) + faults_of(after), int(killed["run_id"]))
    page = int(killed["progress"]["page"])  # type: ignore[index]
    resumed_at = after["first_page"].get("/api/orders/shipped")
    result = {
        **killed,
        "resume_seconds": round(elapsed, 1),
        "resume_rss_mb": rss_mb,
        "resume_exit": code,
        "resumed_at_page": resumed_at,
        "resumed_where_it_stopped": resumed_at == page,
        "verdict": verdict,
    }
    print(f"kill -9 and resume: {result}\n{output}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipped", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--faults", type=float, default=0.01)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--skip-resume", action="store_true", help="no kill -9 and resume run")
    parser.add_argument("--json", help="also write the headline figures to this file")
    args = parser.parse_args()

    url = fresh_database()
    try:
        t0 = time.perf_counter()
        seed(args.shipped)
        print(f"seed took {time.perf_counter() - t0:.1f}s", flush=True)
        server, port = start_fake(args.shipped, args.faults)
        try:
            results = timed_runs(url, port, args)
            resumed = None if args.skip_resume else kill_and_resume(url, port, args.shipped)
        finally:
            server.terminate()
            server.wait()
        report(args, results, resumed)
    finally:
        drop_database()


def report(args: argparse.Namespace, results: list[tuple], resumed: dict | None) -> None:
    times = [r[0] for r in results]
    rss = [r[1] for r in results]
    last, stats = results[-1][3], results[-1][4]
    ok = all(passed(r[3]) for r in results)
    if args.json:
        figures = {"seconds": statistics.median(times), "peak RSS MB": statistics.median(rss)}
        figures |= {"missed": last["missed"], "false positives": last["false_positives"]}
        Path(args.json).write_text(json.dumps(figures))
    faults = {k.removeprefix("fault "): v for k, v in stats.items() if k.startswith("fault ")}
    summary = (
        f"median {statistics.median(times):.1f}s (runs: {', '.join(f'{t:.1f}' for t in times)}), "
        f"peak RSS median {statistics.median(rss):.0f} MB (max {max(rss)}), "
        f"API calls {last['api_calls']} ≤ pages {last['pages']} + {last['detail_orders']} "
        f"drifted + {last['faults']} faults, faults injected (last run) {faults}, "
        f"drift found {last['found']}/{last['injected']}, missed {last['missed']}, "
        f"false positives {last['false_positives']}, reported twice {last['reported_twice']}, "
        f"exit code {results[-1][2]}"
    )
    resume = resume_summary(resumed) if resumed else "not run (--skip-resume)"
    if resumed:
        ok = ok and passed(resumed["verdict"]) and bool(resumed["resumed_where_it_stopped"])
        ok = ok and resumed["status"] == "running"
    print(("PASS " if ok else "FAIL ") + summary + "\n" + resume)
    if args.record:
        record(args, ok, summary, resume, last)


def resume_summary(resumed: dict) -> str:
    verdict = resumed["verdict"]
    return (
        f"killed with SIGKILL at shipped page {resumed['progress']['page']} "
        f"(run {resumed['run_id']}, status then `{resumed['status']}`), found interrupted "
        f"{resumed['lease_wait']:.1f}s later (lease {LEASE_SECONDS}s); `reconcile resume` "
        f"started at page {resumed['resumed_at_page']}, took {resumed['resume_seconds']}s, "
        f"exit {resumed['resume_exit']}: drift found {verdict['found']}/{verdict['injected']}, "
        f"missed {verdict['missed']}, false positives {verdict['false_positives']}, "
        f"reported twice {verdict['reported_twice']}, API calls over both processes "
        f"{verdict['api_calls']}"
    )


def record(args: argparse.Namespace, ok: bool, summary: str, resume: str, last: dict) -> None:
    section = (
        f"\n## reconcile with a flaky Starshipit — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"2-core VM ({platform.node()}, {os.cpu_count()} cores), PostgreSQL\n\n"
        f"`bench/reconcile.py --shipped {args.shipped} --runs {args.runs} --faults "
        f"{args.faults}`: {args.shipped:,} shipped orders (1% drift: missing / unknown / "
        f"quantity), plus {fake.UNLISTED} ledger-only shipments and {fake.UNSHIPPED:,} "
        f"unshipped orders (5% unshipped_missing, 5% status_mismatch); one order in 7 has a "
        f"non-stock line, one in 11 a quantity-0 line; half the shipped orders give no "
        f"shipped quantities; {args.faults:.0%} of Starshipit's answers are a 503, a 429 or "
        f"a `success: false`, in turn; `stockmirror reconcile run` as a child process.\n\n"
        f"- {'PASS' if ok else 'FAIL'}: {summary}\n"
        f"- kill -9 mid-run and resume: {resume}\n"
        f"- drift by category: {last['by_category']}; checked {last['checked']:,}, "
        f"matched {last['matched']:,}\n"
        f"- goal: every injected drift found, no false positives, nothing twice, one resume "
        f"after a kill -9 that starts where the run stopped\n"
    )
    with open(ROOT / "bench" / "RESULTS.md", "a") as handle:
        handle.write(section)


if __name__ == "__main__":
    main()
