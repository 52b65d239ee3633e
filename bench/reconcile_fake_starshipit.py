"""A local fake Starshipit for bench/reconcile.py (no rate limit, deterministic data).

    python bench/reconcile_fake_starshipit.py --port 0 --shipped 100000 --faults 0.01

Serves GET /api/orders/shipped, /api/orders/unshipped (paged, `limit` ≤ 250) and
/api/orders?order_id= from a generator (nothing is held in memory), checks both auth
headers, and counts requests per endpoint (GET /__stats; GET /__reset clears the counts).
With `--faults P` a request fails with probability P (seeded, so a run is repeatable):
503, 429 or a 200 whose body says `success: false`, in turn. The first line printed is
`fake starshipit on 127.0.0.1:PORT` (port 0: a free one). The same module tells the
benchmark which drift it injected (`expected_drift`) and what the mirror should hold.

Orders look like real accounts' listings: some carry a line without a SKU (a non-stock
custom item) and a quantity-0 line; neither is drift nor worth a detail call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

SHIPPED_BASE = 9_000_000  # shipped orders: SHIPPED_BASE + i, i < shipped
UNLISTED_BASE = 9_500_000  # shipped in the ledger, not shipped in Starshipit
UNSHIPPED_BASE = 9_600_000  # Starshipit's unshipped list
UNLISTED = 100
UNSHIPPED = 2000
SKUS = 500
SHIPPED_FROM = datetime(2026, 11, 10, tzinfo=UTC)
API_KEY, SUB_KEY = "bench-api-key", "bench-sub-key"


def kind_of_shipped(i: int) -> str:
    """1% of shipped orders drift: missing / unknown / quantity, in turn."""
    if i % 100:
        return "clean"
    return ("missing_shipment", "unknown_order", "quantity_mismatch")[(i // 100) % 3]


def kind_of_unshipped(j: int) -> str:
    return {0: "unshipped_missing", 1: "status_mismatch"}.get(j % 20, "clean")


def items_for(order_id: int) -> list[tuple[str, int]]:
    """Stock lines (SKU, quantity); see extra_lines for the non-stock and quantity-0 ones."""
    rng = random.Random(order_id)
    lines = [
        (f"SKU-{rng.randrange(SKUS):04d}", rng.randint(1, 3)) for _ in range(rng.randint(1, 3))
    ]
    if order_id < UNLISTED_BASE and kind_of_shipped(order_id - SHIPPED_BASE) == "quantity_mismatch":
        lines[0] = (lines[0][0], 3)
    return lines


def extra_lines(order_id: int) -> list[tuple[str | None, int]]:
    """One order in 7 has a custom item with no SKU; one in 11 a quantity-0 line."""
    extra: list[tuple[str | None, int]] = []
    if order_id % 7 == 0:
        extra.append((None, 1))
    if order_id % 11 == 0:
        extra.append((f"SKU-{order_id % SKUS:04d}", 0))
    return extra


def shipped_date(i: int) -> datetime:
    return SHIPPED_FROM + timedelta(seconds=i)


def full_order(order_id: int) -> dict[str, Any] | None:
    if SHIPPED_BASE <= order_id < UNLISTED_BASE:
        status, shipped = "Shipped", True
    elif (
        UNLISTED_BASE <= order_id < UNLISTED_BASE + UNLISTED
        or UNSHIPPED_BASE <= order_id < UNSHIPPED_BASE + UNSHIPPED
    ):
        status, shipped = "Unshipped", False
    else:
        return None
    items = []
    for n, (sku, qty) in enumerate([*items_for(order_id), *extra_lines(order_id)]):
        item: dict[str, Any] = {
            "item_id": order_id * 10 + n + 4_000_000_000,
            "description": f"item {sku}" if sku else "custom engraving",
            "quantity": qty,
            "weight": 0.5,
            "value": 12.5,
        }
        if sku is not None:
            item["sku"] = sku
        # Unshipped orders carry 0 on every line; half the shipped ones say nothing of
        # shipped quantities (as in real dumps), so they count as shipped in full.
        if not shipped:
            item["quantity_shipped"] = 0
        elif order_id % 2:
            item["quantity_shipped"] = qty
        items.append(item)
    return {
        "order_id": order_id,
        "order_number": f"B-{order_id}",
        "order_date": "2026-11-09T10:00:00.1234567",
        "status": status,
        "reference": f"ref-{order_id}",
        "carrier": "NZPost",
        "destination": {"name": "Bench", "country": "New Zealand"},
        "items": items,
        "packages": [{"package_id": order_id, "tracking_number": f"T{order_id}"}]
        if shipped
        else [],
    }


def shipped_row(i: int) -> dict[str, Any]:
    order_id = SHIPPED_BASE + i
    return {
        "order_id": order_id,
        "order_number": f"B-{order_id}",
        "order_date": "2026-11-09T10:00:00Z",
        "shipped_date": shipped_date(i).isoformat().replace("+00:00", "Z"),
        "carrier": "NZPost",
        "tracking_number": f"T{order_id}",
        "tracking_short_status": "InTransit",
        "manifest_sent": True,
        "writeback_status": "Success",
    }


def expected_drift(shipped: int) -> Iterator[tuple[str, int]]:
    """(category, order_id) of every injected drift."""
    for i in range(0, shipped, 100):
        yield kind_of_shipped(i), SHIPPED_BASE + i
    for j in range(UNLISTED):
        yield "unexpected_shipment", UNLISTED_BASE + j
    for j in range(UNSHIPPED):
        kind = kind_of_unshipped(j)
        if kind != "clean":
            yield kind, UNSHIPPED_BASE + j


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/__stats":
            return self._send(200, dict(self.server.stats) | {"first_page": self.server.first})
        if url.path == "/__reset":
            self.server.stats.clear()
            self.server.first.clear()
            return self._send(200, {})
        if (
            self.headers.get("StarShipIT-Api-Key") != API_KEY
            or self.headers.get("Ocp-Apim-Subscription-Key") != SUB_KEY
        ):
            return self._send(401, {"statusCode": 401, "message": "Access denied"})
        self.server.stats[url.path] += 1
        if "page" in query:
            self.server.first.setdefault(url.path, int(query["page"]))
        fault = self.server.fault()
        if fault is not None:
            self.server.stats[f"fault {fault}"] += 1
            return self._send(*FAULTS[fault])
        if url.path == "/api/orders":
            order = full_order(int(query.get("order_id", "0")))
            if order is None:
                return self._send(200, {"success": False, "errors": [{"message": "not found"}]})
            return self._send(200, {"success": True, "order": order})
        page = int(query.get("page", "1"))
        limit = min(250, int(query.get("limit", "50")))
        if url.path == "/api/orders/shipped":
            total = self.server.shipped
            rows = [shipped_row(i) for i in range((page - 1) * limit, min(total, page * limit))]
        elif url.path == "/api/orders/unshipped":
            total = UNSHIPPED
            rows = [
                full_order(UNSHIPPED_BASE + j)
                for j in range((page - 1) * limit, min(total, page * limit))
            ]
        else:
            return self._send(404, {"statusCode": 404, "message": "no such endpoint"})
        pages = max(1, -(-total // limit))
        return self._send(200, {"success": True, "orders": rows, "total_pages": pages})


FAULTS: dict[str, tuple[int, Any]] = {
    "503": (503, {"statusCode": 503, "message": "Service unavailable"}),
    "429": (429, {"statusCode": 429, "message": "Rate limit is exceeded"}),
    "success_false": (200, {"success": False, "errors": [{"message": "An error has occurred"}]}),
}


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, shipped: int, faults: float = 0.0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.shipped = shipped
        self.stats: Counter[str] = Counter()
        self.first: dict[str, int] = {}  # first page asked per listing since the reset
        self.faults = faults
        self._rng = random.Random(20261130)
        self._kinds = 0
        self._lock = threading.Lock()

    def fault(self) -> str | None:
        """The fault to answer this request with, if it is one of the unlucky ones."""
        with self._lock:
            if not self.faults or self._rng.random() >= self.faults:
                return None
            self._kinds += 1
            return list(FAULTS)[self._kinds % len(FAULTS)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--shipped", type=int, default=100_000)
    parser.add_argument("--faults", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeServer(args.port, args.shipped, args.faults)
    print(f"fake starshipit on 127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
