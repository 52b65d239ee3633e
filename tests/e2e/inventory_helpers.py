"""Small API helpers shared by the inventory tests."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.helpers import AUTH


def call(client: FlaskClient, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    return client.open(path, method=method, json=body, headers=AUTH, **kw)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def location(client: FlaskClient, code: str, kind: str = "bulk", sequence: int = 0) -> None:
    body = {"code": code, "kind": kind, "sequence": sequence}
    ok(call(client, "POST", "/api/locations", body), 201)


def receive(client: FlaskClient, reference: str, lines: list[dict[str, Any]], **extra: Any) -> Any:
    return ok(
        call(client, "POST", "/api/receipts", {"reference": reference, "lines": lines, **extra}),
        201,
    )


def stock(client: FlaskClient, sku: str) -> Any:
    return ok(call(client, "GET", f"/api/stock/{sku}"))


def at(view: dict[str, Any], location: str, batch: str | None = None) -> int:
    return sum(
        loc["on_hand"]
        for loc in view["locations"]
        if loc["location"] == location and (batch is None or loc["batch"] == batch)
    )


def product(client: FlaskClient, sku: str, **fields: Any) -> Any:
    return ok(call(client, "POST", "/api/products", {"sku": sku, **fields}), 201)
