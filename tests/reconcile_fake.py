"""A Starshipit stand-in built on `responses` (the only thing the reconciliation tests mock)."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses

from app.reconcile.client import StarshipitClient, TokenBucket

BASE = "https://starshipit.test"
API_KEY = "api-key-SECRET-1"
SUB_KEY = "sub-key-SECRET-2"
# Settings overrides for an app whose Starshipit is this fake (no rate limit to wait on).
STARSHIPIT_SETTINGS: dict[str, Any] = {
    "starshipit_api_url": BASE,
    "starshipit_api_key": API_KEY,
    "starshipit_subscription_key": SUB_KEY,
    "starshipit_rate_limit": 1000.0,
}


def cli_env(database_url: str, instance: Any) -> dict[str, str]:
    """The environment of a `stockmirror` command using this fake."""
    return {
        "DATABASE_URL": database_url,
        "STOCKMIRROR_INSTANCE_PATH": str(instance),
        "STARSHIPIT_API_URL": BASE,
        "STARSHIPIT_API_KEY": API_KEY,
        "STARSHIPIT_SUBSCRIPTION_KEY": SUB_KEY,
        "STARSHIPIT_RATE_LIMIT": "1000",
    }


class FakeClock:
    """Time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(clock: FakeClock | None = None, **kwargs: Any) -> StarshipitClient:
    clock = clock or FakeClock()
    kwargs.setdefault("bucket", TokenBucket(1000, clock=clock, sleep=clock.sleep))
    kwargs.setdefault("sleep", clock.sleep)
    kwargs.setdefault("rng", lambda: 1.0)
    return StarshipitClient(BASE, API_KEY, SUB_KEY, **kwargs)


def full_order(
    order_id: int,
    items: list[tuple[str, int, int | None]],
    *,
    status: str = "Shipped",
    number: str | None = None,
) -> dict[str, Any]:
    lines = []
    for n, (sku, qty, shipped) in enumerate(items):
        line: dict[str, Any] = {"item_id": order_id * 10 + n, "sku": sku, "quantity": qty}
        if shipped is not None:
            line["quantity_shipped"] = shipped
        lines.append(line)
    return {
        "order_id": order_id,
        "order_number": number or f"N-{order_id}",
        "order_date": "2026-11-20T01:00:00.1234567Z",
        "status": status,
        "items": lines,
        "packages": [],
    }


class FakeStarshipit:
    """Serves shipped/unshipped lists (paged) and order detail from dicts."""

    def __init__(self, rsps: responses.RequestsMock, page_size: int = 250) -> None:
        self.rsps = rsps
        self.orders: dict[int, dict[str, Any]] = {}
        self.shipped: list[dict[str, Any]] = []
        self.unshipped: list[dict[str, Any]] = []
        self.page_size = page_size
        self.down = False
        # fault(request) → None, or the (status, body) to answer instead (flaky Starshipit)
        self.fault: Any = None
        self.detail_calls: list[str] = []
        self.page_calls: list[tuple[str, int]] = []  # (path, page) of every listing call
        self.keys_seen: list[str] = []  # StarShipIT-Api-Key of every call
        for path, handler in (
            ("/api/orders/shipped", self._shipped),
            ("/api/orders/unshipped", self._unshipped),
            ("/api/orders", self._detail),
        ):
            rsps.add_callback(responses.GET, BASE + path, callback=handler)

    def ship(self, order: dict[str, Any], shipped_date: str = "2026-11-20T05:00:00Z") -> None:
        self.orders[order["order_id"]] = order
        self.shipped.append(
            {
                "order_id": order["order_id"],
                "order_number": order["order_number"],
                "shipped_date": shipped_date,
                "tracking_number": "TRK",
                "tracking_short_status": "InTransit",
            }
        )

    def add_unshipped(self, order: dict[str, Any]) -> None:
        self.orders[order["order_id"]] = order
        self.unshipped.append(order)

    def _faulty(self, request: Any) -> tuple[int, dict, str] | None:
        self.keys_seen.append(request.headers.get("StarShipIT-Api-Key", ""))
        if self.down:
            return 503, {}, "unavailable"
        answer = self.fault(request) if self.fault else None
        if answer is not None:
            status, body = answer
            return status, {}, body if isinstance(body, str) else json.dumps(body)
        return None

    def _page(self, request: Any, rows: list[dict[str, Any]]) -> tuple[int, dict, str]:
        query = parse_qs(urlparse(request.url).query)
        page = int(query.get("page", ["1"])[0])
        self.page_calls.append((urlparse(request.url).path, page))
        faulty = self._faulty(request)
        if faulty is not None:
            return faulty
        limit = int(query.get("limit", ["250"])[0])
        size = min(limit, self.page_size)
        chunk = rows[(page - 1) * size : page * size]
        total = max(1, math.ceil(len(rows) / size))
        return 200, {}, json.dumps({"success": True, "orders": chunk, "total_pages": total})

    def _shipped(self, request: Any) -> tuple[int, dict, str]:
        return self._page(request, self.shipped)

    def _unshipped(self, request: Any) -> tuple[int, dict, str]:
        return self._page(request, self.unshipped)

    def _detail(self, request: Any) -> tuple[int, dict, str]:
        faulty = self._faulty(request)
        if faulty is not None:
            return faulty
        query = parse_qs(urlparse(request.url).query)
        self.detail_calls.append(urlparse(request.url).query)
        order = None
        if "order_id" in query:
            order = self.orders.get(int(query["order_id"][0]))
        elif "order_number" in query:
            number = query["order_number"][0]
            order = next((o for o in self.orders.values() if o["order_number"] == number), None)
        if order is None:
            body = {"success": False, "errors": [{"message": "Order not found"}]}
            return 200, {}, json.dumps(body)
        return 200, {}, json.dumps({"success": True, "order": order})
