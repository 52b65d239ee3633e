"""The OpenAPI document describes every operation, and Schemathesis fuzzes all of them
against a live server with its default checks: no 5xx, responses match the documented
schemas and status codes. Runs on SQLite and (in the PostgreSQL pass) on PostgreSQL."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import allow_header_conformance

from app.webhooks.signature import sign
from tests.conftest import make_test_app
from tests.helpers import SECRET, TOKEN, post_event, shipped_event
from tests.live import live_server

EXAMPLES_PER_OPERATION = 12


class Signed(requests.auth.AuthBase):
    """Webhooks: an HMAC signature of the exact bytes sent (unless the case sends a
    signature of its own, to see a wrong one refused)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if "/webhooks/" in (r.path_url or "") and r.headers.get("X-Starshipit-Signature") == "sign":
            body = r.body or b""
            raw = body.encode() if isinstance(body, str) else body
            r.headers["X-Starshipit-Signature"] = sign(SECRET, raw)
        return r


def fake_starshipit() -> Flask:
    """Starshipit answering every listing with no orders and every lookup with none."""
    fake = Flask("fake_starshipit")

    @fake.get("/api/orders/<kind>")
    def listing(kind: str) -> Any:
        return {"success": True, "orders": [], "total_pages": 0}

    @fake.get("/api/orders")
    def lookup() -> Any:
        return {"success": True, "orders": []}

    return fake


@pytest.fixture
def fuzz_target(database_url, tmp_path) -> Iterator[tuple[str, dict[str, Any]]]:
    with live_server(fake_starshipit()) as starshipit:
        app = make_test_app(
            database_url,
            tmp_path,
            starshipit_api_url=starshipit,
            starshipit_api_key="key",
            starshipit_subscription_key="sub",
            reconcile_async=False,
        )
        client = app.test_client()
        post_event(
            client, shipped_event("seed-1", 1, [("SKU-1", 2, None)], event_type="order_created")
        )
        post_event(client, shipped_event("seed-2", 2, [("SKU-1", 1, 1)]))
        document = client.get("/api/openapi.json").get_json()
        with live_server(app) as base:
            yield base, document
        app.extensions["stockmirror"].db.dispose()


def _document() -> dict[str, Any]:
    """The document as the app serves it (built without touching a database)."""
    from app.api.openapi import build_spec

    app = make_test_app("sqlite://", Path(tempfile.mkdtemp()))
    try:
        return build_spec(app)
    finally:
        app.extensions["stockmirror"].db.dispose()


# A schema-valid request may still break a business rule no JSON Schema can state (an
# unknown location, a zero quantity, a stocktake already submitted): the API answers
# those with its documented 422, which the positive-data check must accept.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)
# `/api/stock/import` is also `/api/stock/{sku}` for a SKU named "import" (SKUs may hold
# any character, slashes too), so its Allow header rightly lists GET as well; likewise
# `/api/events/{event_id}` and `/api/expected-receipts/{reference}` under their actions.
OVERLAPPING = {
    "/api/stock/import",
    "/api/events/{event_id}/replay",
    "/api/events/{event_id}/discard",
    "/api/expected-receipts/{reference}/cancel",
}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_survives_fuzzing_with_the_default_checks(case, fuzz_target):
    base, _ = fuzz_target
    with requests.Session() as session:
        session.auth = Signed()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if case.path.startswith("/webhooks/"):
            headers = {"X-Starshipit-Signature": "sign"}
        excluded = [allow_header_conformance] if case.path in OVERLAPPING else None
        case.call_and_validate(
            base_url=base, session=session, headers=headers, excluded_checks=excluded
        )


def test_openapi_document_is_3_1_needs_no_token_and_covers_every_route(app):
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/webhooks/")):
            continue  # health checks, console pages, static files
        path = rule.rule
        for arg in rule.arguments:
            for prefix in ("<int:", "<path:", "<"):
                path = path.replace(f"{prefix}{arg}>", "{" + arg + "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []
    assert {"/webhooks/starshipit/orders", "/webhooks/starshipit/tracking"} <= set(
        document["paths"]
    )


def test_the_documented_request_schemas_are_the_ones_that_validate(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    movement = document["components"]["schemas"]["Movement"]
    assert movement["additionalProperties"] is False
    assert movement["properties"]["quantity"]["maximum"] == 2**31 - 1
    assert movement["properties"]["sku"]["maxLength"] == 50
    orders = document["paths"]["/api/orders"]["get"]["parameters"]
    assert "order_number" in {p["name"] for p in orders}
