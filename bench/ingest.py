"""Webhook ingest benchmark: stockmirror vs the raw reference, driven by wrk.

    .venv/bin/python bench/ingest.py            # after make test (or make run) made .venv
    .venv/bin/python bench/ingest.py --record   # also append the figures to bench/RESULTS.md

Starts stockmirror (`gunicorn -w 2 wsgi:app`) and bench/raw_reference (`gunicorn -w 2`),
each on its own fresh database of the same PostgreSQL server, on free ports. Load comes
from wrk (a C load generator; installed with apt-get when missing), so the client does
not starve the servers of CPU. The event stream is generated and signed before any run
(unique `order_shipped` events for new orders, 1–4 lines over 1,000 SKUs, so events share
SKUs) and written to files that bench/requests.lua cycles through: each request is sent once.
Both servers get the same stream in every run. Per repeat, in alternating order:

- throughput: wrk with N connections for D seconds, as fast as the servers answer;
- latency: the same at a fixed pace of about 200 events/s (wrk's delay()), wrk's latency
  percentiles.

After each run the bench checks the database: every event a server stored is one of the
events wrk handed out, no more were lost than were in flight when wrk stopped, every
stored event is applied, and each SKU's ledger equals the sum of the stored events' lines.
Prints events/s (median), the ratio stockmirror ÷ reference, and p50/p99 latencies.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SECRET = "bench-secret"
PATH = "/webhooks/starshipit/orders"
SKUS = [f"SKU-{n:04d}" for n in range(1000)]
SERVERS = ("reference", "stockmirror")


@dataclass
class Event:
    event_id: str
    lines: list[tuple[str, int]]  # (sku, quantity shipped)
    raw: bytes


@dataclass
class Stream:
    """Pre-signed events, split round-robin into one file per wrk thread."""

    prefix: Path
    events: list[Event]
    threads: int

    def issued(self, counts: list[int]) -> list[Event]:
        """The events wrk handed out: thread t sent the first counts[t] of its share."""
        out = []
        for thread, count in enumerate(counts):
            out += self.events[thread :: self.threads][:count]
        return out


@dataclass
class Run:
    server: str
    kind: str
    wrk: dict

    @property
    def rate(self) -> float:
        return self.wrk["requests"] / (self.wrk["duration_us"] / 1e6)

    def ms(self, key: str) -> float:
        return self.wrk[key] / 1000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing; installing it with apt-get", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed (apt-get install wrk)")
    return found


def make_events(tag: str, count: int, first_order: int) -> list[Event]:
    """`count` new shipped orders; the same tag always gives the same stream."""
    rng = random.Random(tag)
    events = []
    for n in range(count):
        order_id = first_order + n
        lines, items = [], []
        for line_no, sku in enumerate(rng.sample(SKUS, rng.randint(1, 4))):
            qty = rng.randint(1, 3)
            lines.append((sku, qty))
            items.append(
                {
                    "item_id": 3_000_000_000 + order_id * 10 + line_no,
                    "sku": sku,
                    "description": f"Product {sku}",
                    "quantity": qty,
                    "quantity_shipped": qty,
                    "weight": 0.4,
                    "value": 19.95,
                }
            )
        body = {
            "event_id": f"{tag}-{n}",
            "event_type": "order_shipped",
            "occurred_at": "2026-11-20T05:10:00Z",
            "account_id": "bench",
            "order": {
                "order_id": order_id,
                "order_number": f"B-{order_id}",
                "order_date": "2026-11-20T02:55:37.1446912",
                "reference": f"R{order_id}",
                "status": "Printed",
                "platform": "Shopify",
                "carrier": "NZPost",
                "carrier_name": "NZ Post",
                "destination": {
                    "name": "A. Tester",
                    "city": "Auckland",
                    "post_code": "1011",
                    "country": "New Zealand",
                },
                "items": items,
                "packages": [{"package_id": order_id, "tracking_number": f"TN{order_id}"}],
            },
        }
        events.append(Event(f"{tag}-{n}", lines, json.dumps(body).encode()))
    return events


def write_requests(
    prefix: Path, requests: list[tuple[str, dict[str, str], bytes]], threads: int
) -> None:
    """Prebuilt POSTs (path, or "" for the URL's; headers; body) for bench/requests.lua,
    split round-robin into one file per wrk thread."""
    for thread in range(threads):
        with open(f"{prefix}.{thread}", "wb") as out:
            for path, headers, body in requests[thread::threads]:
                header_text = ";".join(f"{k}: {v}" for k, v in headers.items())
                out.write(f"{path}\t{header_text}\t".encode() + body + b"\n")


def write_stream(folder: Path, tag: str, count: int, first_order: int, threads: int) -> Stream:
    events = make_events(tag, count, first_order)
    prefix = folder / f"{tag}.stream"
    requests = [
        (
            "",
            {
                "Content-Type": "application/json",
                "X-Starshipit-Signature": hmac.new(
                    SECRET.encode(), event.raw, hashlib.sha256
                ).hexdigest(),
            },
            event.raw,
        )
        for event in events
    ]
    write_requests(prefix, requests, threads)
    return Stream(prefix, events, threads)


def start_server(cmd: list[str], cwd: Path, env: dict[str, str], port: int, log: Path):
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:  # start-up: poll until it listens, give up at the deadline
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"server {cmd} did not start:\n{log.read_text()}") from None
            time.sleep(0.1)


def run_wrk(wrk: str, url: str, stream: Stream, args: argparse.Namespace, pace_ms: float) -> dict:
    connections = args.paced_connections if pace_ms else args.connections
    seconds = args.paced_seconds if pace_ms else args.seconds
    return wrk_requests(
        wrk, url + PATH, stream.prefix, stream.threads, connections, seconds, pace_ms
    )


def wrk_requests(
    wrk: str,
    url: str,
    prefix: Path,
    threads: int,
    connections: int,
    seconds: float,
    pace_ms: float = 0,
) -> dict:
    """Run bench/requests.lua over the files at `prefix`; wrk's figures as a dict."""
    env = dict(os.environ)
    env.pop("BENCH_PACE_MS", None)
    if pace_ms:
        env["BENCH_PACE_MS"] = f"{pace_ms:.3f}"
    cmd = [
        wrk,
        "-t", str(threads),
        "-c", str(connections),
        "-d", f"{seconds}s",
        "--timeout", "30s",
        "-s", str(BENCH / "requests.lua"),
        url,
        "--", str(prefix),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1].removeprefix("BENCH "))
    if result["exhausted_threads"]:
        raise SystemExit("the pre-generated stream ran out during a run; raise --capacity")
    return result


# -- checking the database ------------------------------------------------------------

QUERIES = {
    "stockmirror": {
        "stored": "SELECT event_id, status FROM inbox_events WHERE event_id LIKE %s",
        "ledger": "SELECT sku, sum(quantity) FROM stock_movements GROUP BY sku",
        "movements": "SELECT count(*) FROM stock_movements",
        "drift": (
            "SELECT count(*) FROM stock_balances b FULL JOIN (SELECT sku, location, batch, "
            "sum(quantity) q FROM stock_movements GROUP BY sku, location, batch) m "
            "USING (sku, location, batch) WHERE coalesce(b.on_hand, 0) <> coalesce(m.q, 0)"
        ),
    },
    "reference": {
        "stored": "SELECT event_id, 'applied' FROM ref_inbox WHERE event_id LIKE %s",
        "ledger": "SELECT sku, sum(quantity) FROM ref_movements GROUP BY sku",
        "movements": "SELECT count(*) FROM ref_movements",
        "drift": (
            "SELECT count(*) FROM ref_balances b FULL JOIN (SELECT sku, sum(quantity) q "
            "FROM ref_movements GROUP BY sku) m USING (sku) "
            "WHERE coalesce(b.on_hand, 0) <> coalesce(m.q, 0)"
        ),
    },
}


@dataclass
class Books:
    """What one server's database must hold: the events it stored, summed."""

    dsn: str
    server: str
    ledger: Counter[str] = field(default_factory=Counter)
    movements: int = 0


def settled_rows(conn: psycopg.Connection, sql: str, tag: str) -> list[tuple[str, str]]:
    """Stored rows of a run once requests still in flight when wrk stopped have finished."""
    rows = conn.execute(sql, (f"{tag}-%",)).fetchall()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.3)  # a server may still be finishing a request wrk gave up waiting for
        again = conn.execute(sql, (f"{tag}-%",)).fetchall()
        if len(again) == len(rows):
            return again
        rows = again
    return rows


def check(books: Books, tag: str, stream: Stream, result: dict, connections: int) -> list[str]:
    """Problems found in the server's database after one run (empty when all is well)."""
    queries = QUERIES[books.server]
    issued = {e.event_id: e for e in stream.issued(result["issued"])}
    problems = []
    with psycopg.connect(books.dsn, autocommit=True) as conn:
        rows = settled_rows(conn, queries["stored"], tag)
        stored = {event_id for event_id, _ in rows}
        not_applied = [e for e, status in rows if status != "applied"]
        if not_applied:
            problems.append(f"{len(not_applied)} stored events not applied: {not_applied[:3]}")
        strangers = stored - issued.keys()
        if strangers:
            problems.append(f"{len(strangers)} stored events wrk never sent")
        if not result["requests"] - result["status_errors"] <= len(stored) <= len(issued):
            problems.append(
                f"{len(stored)} events stored, {result['requests']} answered, {len(issued)} sent"
            )
        if len(issued) - len(stored) > connections:
            problems.append(f"{len(issued) - len(stored)} sent events lost (> {connections})")
        for event_id in stored & issued.keys():
            books.movements += len(issued[event_id].lines)
            for sku, qty in issued[event_id].lines:
                books.ledger[sku] -= qty
        ledger = {sku: int(total) for sku, total in conn.execute(queries["ledger"])}
        if ledger != {sku: q for sku, q in books.ledger.items() if q}:
            problems.append("ledger per SKU differs from the stored events' lines")
        movements = conn.execute(queries["movements"]).fetchone()[0]
        if movements != books.movements:
            problems.append(f"{movements} movements, expected {books.movements}")
        drift = conn.execute(queries["drift"]).fetchone()[0]
        if drift:
            problems.append(f"{drift} balances differ from the sum of their movements")
    errors = {k: result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")}
    if result["status_errors"] or any(errors.values()):
        problems.append(f"wrk errors: status {result['status_errors']}, {errors}")
    return problems


# -- databases and servers -----------------------------------------------------------


@contextmanager
def databases(admin_dsn: str) -> Iterator[dict[str, str]]:
    """A fresh database per server on the same PostgreSQL, dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {server: f"sm_bench_ingest_{server[:3]}_{suffix}" for server in SERVERS}
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {s: admin_dsn.rsplit("/", 1)[0] + f"/{n}" for s, n in names.items()}
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def servers(dsns: dict[str, str], work: Path, gunicorn_args: str) -> Iterator[dict[str, str]]:
    sm_url = dsns["stockmirror"].replace("postgresql://", "postgresql+psycopg://", 1)
    sm_env = dict(
        os.environ,
        DATABASE_URL=sm_url,
        STOCKMIRROR_WEBHOOK_SECRETS=SECRET,
        STOCKMIRROR_API_TOKENS="bench",
        STOCKMIRROR_INSTANCE_PATH=str(work / "instance"),
    )
    upgrade = [sys.executable, "-m", "app", "db", "upgrade"]
    subprocess.run(upgrade, cwd=ROOT, env=sm_env, check=True, stdout=subprocess.DEVNULL)
    ref_env = dict(
        os.environ, REFERENCE_DSN=dsns["reference"], WEBHOOK_SECRET=SECRET,
        PYTHONDONTWRITEBYTECODE="1",
    )  # fmt: skip
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(BENCH / "gunicorn_bench.py")]
    gunicorn += ["-w", "2", "--backlog", "2048"]
    gunicorn += gunicorn_args.split()
    ports = {server: free_port() for server in SERVERS}
    procs = []
    try:
        procs.append(
            start_server(
                [*gunicorn, "-b", f"127.0.0.1:{ports['stockmirror']}", "wsgi:app"],
                ROOT, sm_env, ports["stockmirror"], work / "stockmirror.log",
            )
        )  # fmt: skip
        procs.append(
            start_server(
                [*gunicorn, "-b", f"127.0.0.1:{ports['reference']}", "app:app"],
                BENCH / "raw_reference", ref_env, ports["reference"], work / "reference.log",
            )
        )  # fmt: skip
        yield {server: f"http://127.0.0.1:{port}" for server, port in ports.items()}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


# -- the benchmark -------------------------------------------------------------------


def machine(pg_dsn: str) -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(pg_dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    return (
        f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {version} on the same host"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10, help="length of a throughput run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rate", type=float, default=200.0, help="pace of the latency runs")
    parser.add_argument("--paced-seconds", type=int, default=10)
    parser.add_argument("--paced-connections", type=int, default=40)
    parser.add_argument(
        "--capacity",
        type=int,
        default=0,
        help="events per throughput stream (default: max(3 × the warm-up rate, 3000/s) × --seconds)",
    )
    parser.add_argument(
        "--gunicorn-args", default="", help="extra gunicorn options for BOTH servers"
    )
    parser.add_argument(
        "--record", action="store_true", help="append the figures to bench/RESULTS.md"
    )
    parser.add_argument("--json", help="also write the headline figures to this file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    wrk = ensure_wrk()
    # Each of the C paced connections waits C / rate seconds (on average) before a request.
    pace_ms = args.paced_connections * 1000.0 / args.rate
    work = Path(tempfile.mkdtemp(prefix="sm-bench-ingest-"))
    runs: list[Run] = []
    problems: list[str] = []
    load_before = os.getloadavg()
    try:
        with databases(args.pg) as dsns, servers(dsns, work, args.gunicorn_args) as urls:
            books = {s: Books(dsns[s], s) for s in SERVERS}
            next_order = 1

            def one(server: str, tag: str, stream: Stream, pace: float) -> Run:
                result = run_wrk(wrk, urls[server], stream, args, pace)
                run = Run(server, "paced" if pace else "throughput", result)
                connections = args.paced_connections if pace else args.connections
                found = check(books[server], tag, stream, result, connections)
                problems.extend(f"{server} {tag}: {p}" for p in found)
                print(
                    f"  {tag:8s} {server:12s} {run.rate:7.0f} events/s  p50 {run.ms('p50_us'):6.1f} ms"
                    f"  p99 {run.ms('p99_us'):6.1f} ms  stored check: {'ok' if not found else 'FAILED'}",
                    flush=True,
                )
                return run

            warm_count = 15000
            warm = write_stream(work, "warm", warm_count, next_order, args.threads)
            next_order += warm_count
            warm_args = argparse.Namespace(**{**vars(args), "seconds": 3})
            warm_rates = []
            for server in SERVERS:  # imports, pools, prepared statements
                result = run_wrk(wrk, urls[server], warm, warm_args, 0)
                problems.extend(
                    f"{server} warm: {p}"
                    for p in check(books[server], "warm", warm, result, args.connections)
                )
                warm_rates.append(result["requests"] / (result["duration_us"] / 1e6))
            # Warm-up rates understate a warm server: leave ample room, a run must not run dry.
            capacity = args.capacity or int(max(3 * max(warm_rates), 3000) * args.seconds) + 2000
            print(
                f"warm-up: {', '.join(f'{r:.0f}' for r in warm_rates)} events/s; "
                f"{capacity} events per throughput stream",
                flush=True,
            )

            for r in range(args.repeats):
                order = SERVERS if r % 2 == 0 else SERVERS[::-1]
                tag = f"run{r}"
                stream = write_stream(work, tag, capacity, next_order, args.threads)
                next_order += capacity
                for server in order:
                    runs.append(one(server, tag, stream, 0))
                tag = f"paced{r}"
                count = int(args.rate * args.paced_seconds * 1.5) + 500
                stream = write_stream(work, tag, count, next_order, args.threads)
                next_order += count
                for server in order:
                    runs.append(one(server, tag, stream, pace_ms))
                for path in work.glob("*.stream.*"):
                    path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, runs, problems, load_before)


def report(args: argparse.Namespace, runs: list[Run], problems: list[str], load_before) -> None:
    def pick(server: str, kind: str) -> list[Run]:
        return [r for r in runs if r.server == server and r.kind == kind]

    med = statistics.median
    rates = {s: med([r.rate for r in pick(s, "throughput")]) for s in SERVERS}
    ratio = rates["stockmirror"] / rates["reference"]
    per_repeat = [
        sm.rate / ref.rate
        for sm, ref in zip(
            pick("stockmirror", "throughput"), pick("reference", "throughput"), strict=True
        )
    ]
    lines = [
        f"| server | events/s (median of {args.repeats} × {args.seconds} s) | p50 ms | p99 ms "
        f"| paced: events/s | paced p50 ms | paced p99 ms | paced p99.9 ms | every event accounted for |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in SERVERS:
        thr, paced = pick(s, "throughput"), pick(s, "paced")
        ok = not any(p.startswith(s) for p in problems)
        lines.append(
            f"| {s} | {rates[s]:.0f} | {med([r.ms('p50_us') for r in thr]):.1f} "
            f"| {med([r.ms('p99_us') for r in thr]):.1f} | {med([r.rate for r in paced]):.0f} "
            f"| {med([r.ms('p50_us') for r in paced]):.1f} | {med([r.ms('p99_us') for r in paced]):.1f} "
            f"| {med([r.ms('p999_us') for r in paced]):.1f} | {'yes' if ok else 'NO'} |"
        )
    sm_paced = [f"{r.ms('p99_us'):.1f}" for r in pick("stockmirror", "paced")]
    summary = "\n".join(lines) + (
        f"\n\nratio stockmirror ÷ reference = **{ratio:.2f}** (ratio of the median rates; "
        f"median of the {len(per_repeat)} side-by-side pairs {med(per_repeat):.2f}, each: "
        f"{', '.join(f'{x:.2f}' for x in per_repeat)}); stockmirror p99 at ≈{args.rate:.0f} events/s "
        f"= {med([r.ms('p99_us') for r in pick('stockmirror', 'paced')]):.1f} ms "
        f"(runs: {', '.join(sm_paced)})\n"
    )
    load_after = os.getloadavg()
    if args.json:
        figures = {
            "ratio": ratio,
            "pair ratio": med(per_repeat),
            "stockmirror events/s": rates["stockmirror"],
            "reference events/s": rates["reference"],
            "stockmirror paced p99 ms": med([r.ms("p99_us") for r in pick("stockmirror", "paced")]),
        }
        Path(args.json).write_text(json.dumps(figures))
    print()
    print(summary)
    for problem in problems:
        print("PROBLEM:", problem)
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with (BENCH / "RESULTS.md").open("a") as out:
            out.write(
                f"\n### ingest (wrk) — {stamp}\n\n"
                f"`bench/ingest.py --repeats {args.repeats} --seconds {args.seconds}`. Machine: {machine(args.pg)}; "
                f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after. Both servers: gunicorn "
                f"`-w 2` sync workers{(' ' + args.gunicorn_args) if args.gunicorn_args else ''} "
                f"(TCP_DEFER_ACCEPT, bench/gunicorn_bench.py), each its own database on the same "
                f"PostgreSQL server, the same pre-signed stream; load from wrk "
                f"(`-t {args.threads} -c {args.connections}` for throughput, `-c {args.paced_connections}` "
                f"paced with delay() at ≈{args.rate:.0f} events/s for {args.paced_seconds} s; wrk's latency, "
                f"from the moment each request is written, so a stall's queueing is not counted for "
                f"requests not yet sent).\n\n{summary}"
            )
    if problems:
        raise SystemExit("some events are not accounted for")


if __name__ == "__main__":
    main()
