"""Console test helpers: users, signing in through the form, CSRF tokens, a drift report
made by a real reconciliation against the Starshipit stand-in."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.users.service import add_user
from tests.helpers import AUTH, post_event, shipped_event
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeStarshipit, full_order

PASSWORD = "correct horse battery"
WINDOW = {"since": "2026-11-19T00:00:00Z", "until": "2026-11-22T00:00:00Z"}
STARSHIPIT_SETTINGS = {
    "starshipit_api_url": BASE,
    "starshipit_api_key": API_KEY,
    "starshipit_subscription_key": SUB_KEY,
    "starshipit_rate_limit": 1000.0,
    "reconcile_async": False,
    "allocation": "manual",
}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(app: Flask, email: str, role: str, password: str = PASSWORD) -> None:
    add_user(app.extensions["stockmirror"].db, email, role, password)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"}
    )


def signed_in(app: Flask, role: str) -> FlaskClient:
    email = f"{role}@example.com"
    make_user(app, email, role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    return client


def drifted_run(client: FlaskClient, starshipit: FakeStarshipit) -> int:
    """A done reconciliation with a missing shipment (MUG, value 12.50 a unit, 2 units),
    a quantity mismatch (BOWL: 3 shipped, 1 recorded) and a formula-looking order number."""
    client.post(
        "/api/movements",
        json={"sku": "MUG", "quantity": 5, "type": "receipt", "reference": "r1"},
        headers=AUTH,
    )
    client.post(
        "/api/movements",
        json={"sku": "BOWL", "quantity": 10, "type": "receipt", "reference": "r2"},
        headers=AUTH,
    )
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    post_event(client, shipped_event("e2", 2, [("BOWL", 3, 1)]))
    mug = full_order(1, [("MUG", 2, 2)], number='=HYPERLINK("x")')
    mug["items"][0]["value"] = 12.5
    mug["shipped_date"] = "2026-11-20T03:04:05.1234567Z"
    starshipit.ship(mug)
    bowl = full_order(2, [("BOWL", 3, 3)])
    bowl["items"][0]["value"] = "4.25"
    starshipit.ship(bowl)
    response = client.post("/api/reconciliations", json=WINDOW, headers=AUTH)
    assert response.status_code == 202
    return int(response.json["id"])
