"""A small load generator for the benchmarks: closed-loop throughput over N connections
(one process per connection, so the client is not the bottleneck on 2 cores) and an
open-loop fixed-rate run for latency (latency counted from the scheduled send time, so a
stalled server cannot hide its queueing — no coordinated omission)."""

from __future__ import annotations

import http.client
import multiprocessing as mp
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


@dataclass
class Result:
    sent: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 400)


def _connection(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)


def _send(
    conn: http.client.HTTPConnection, base: str, req: Request
) -> tuple[int, http.client.HTTPConnection]:
    path, body, headers = req
    for attempt in range(2):
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = _connection(base)
            return response.status, conn
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            conn = _connection(base)
            if attempt:
                raise
    raise AssertionError("unreachable")


def _worker(base: str, requests: Sequence[Request], start: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    conn = _connection(base)
    latencies = []
    statuses: dict[int, int] = {}
    while time.time() < start:
        time.sleep(0.0005)
    for req in requests:
        t0 = time.perf_counter()
        status, conn = _send(conn, base, req)
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
    queue.put((time.time(), latencies, statuses))


def closed_loop(base: str, requests: Sequence[Request], connections: int) -> Result:
    """Send every request as fast as `connections` parallel clients allow."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start = time.time() + 0.3
    procs = [
        ctx.Process(target=_worker, args=(base, requests[i::connections], start, queue))
        for i in range(connections)
    ]
    for p in procs:
        p.start()
    outputs = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    end = max(o[0] for o in outputs)
    latencies = [lat for o in outputs for lat in o[1]]
    statuses: dict[int, int] = {}
    for o in outputs:
        for code, n in o[2].items():
            statuses[code] = statuses.get(code, 0) + n
    return Result(len(requests), end - start, latencies, statuses)


def fixed_rate(base: str, requests: Sequence[Request], rate: float, threads: int = 8) -> Result:
    """Open loop: request i is due at start + i/rate; latency counts from the due time."""
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run(offset: int) -> None:
        conn = _connection(base)
        for i in range(offset, len(requests), threads):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            status, conn = _send(conn, base, requests[i])
            elapsed = (time.perf_counter() - due) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return Result(len(requests), time.perf_counter() - start, latencies, statuses)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
