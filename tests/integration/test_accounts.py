"""Many Starshipit accounts (CONTRACT §7): the signing secret names the account, a signed
body cannot be replayed into another account, and scheduled reconciliation and polling
run for every account with its own keys."""

from __future__ import annotations

import json

import pytest
import responses
import sqlalchemy as sa

from app.config import Account
from app.reconcile.jobs import poll_job, reconcile_job
from app.reconcile.scheduler import JobRunner
from tests.helpers import AUTH, shipped_event, signed_headers
from tests.reconcile_fake import BASE, FakeStarshipit, full_order

ACME = Account("acme", ("acme-secret",), "acme-key", "acme-sub", 1000.0)
BETA = Account("beta", ("beta-secret", "beta-new"), "beta-key", "beta-sub", 1000.0)
BARE = Account("bare", ("bare-secret",))  # no API keys


@pytest.fixture
def app_overrides():
    return {
        "account_list": (ACME, BETA, BARE),
        "starshipit_api_url": BASE,
        "reconcile_async": False,
    }


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


def post(client, path, body, secret, query=""):
    raw = json.dumps(body).encode()
    return client.post(path + query, data=raw, headers=signed_headers(raw, secret))


def inbox(engine):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT account_id, event_id, source FROM inbox_events ORDER BY id")
        ).all()


def event(event_id="e1", **extra):
    body = shipped_event(event_id, 1, [("MUG", 1, None)], event_type="order_created")
    del body["account_id"]
    return body | extra


def test_the_secret_that_verifies_the_body_names_its_account(client, engine):
    assert post(client, "/webhooks/starshipit/orders", event(), "beta-new").status_code == 200

    assert [(r.account_id, r.event_id) for r in inbox(engine)] == [("beta", "e1")]
    assert client.get("/api/orders/1?account_id=beta", headers=AUTH).status_code == 200
    assert client.get("/api/orders/1?account_id=acme", headers=AUTH).status_code == 404


def test_an_envelope_naming_another_account_is_422_and_nothing_is_stored(client, engine):
    response = post(client, "/webhooks/starshipit/orders", event(account_id="acme"), "beta-secret")

    assert response.status_code == 422
    assert "account_id" in response.json["fields"]
    assert inbox(engine) == []
    named = post(client, "/webhooks/starshipit/orders", event(account_id="beta"), "beta-secret")
    assert named.json["status"] == "applied"


def test_a_signed_body_cannot_be_replayed_into_another_account_through_the_query(client, engine):
    body = event()
    assert post(client, "/webhooks/starshipit/orders", body, "acme-secret").status_code == 200

    again = post(client, "/webhooks/starshipit/orders", body, "acme-secret", "?account_id=beta")

    assert again.json["status"] == "duplicate"
    assert [r.account_id for r in inbox(engine)] == ["acme"]


def test_a_secret_of_no_account_is_401(client, engine):
    assert post(client, "/webhooks/starshipit/orders", event(), "nobody").status_code == 401
    assert inbox(engine) == []


def test_tracking_work_belongs_to_the_signing_account_and_uses_its_keys(client, engine, starshipit):
    starshipit.orders[1] = full_order(1, [("MUG", 1, 1)])
    notice = {"order_number": "N-1", "tracking_number": "T", "tracking_status": "Printed"}

    response = post(
        client, "/webhooks/starshipit/tracking", notice, "beta-secret", "?account_id=acme"
    )

    assert response.json["status"] == "applied", response.json
    assert [(r.account_id, r.source) for r in inbox(engine)] == [("beta", "tracking")]
    assert starshipit.keys_seen == ["beta-key"]
    assert client.get("/api/orders/1?account_id=beta", headers=AUTH).json["status"] == "SHIPPED"


def test_scheduled_reconciliation_runs_for_every_account_with_its_own_keys(app, client, starshipit):
    ctx = app.extensions["stockmirror"]
    runner = JobRunner(ctx.db, "test")

    status = runner.run("reconcile", None, lambda: reconcile_job(ctx.settings, ctx.db))

    assert status == "done", runner.last
    assert set(starshipit.keys_seen) == {"acme-key", "beta-key"}
    assert "acme: reconciliation" in runner.last.detail
    assert "beta: reconciliation" in runner.last.detail
    assert "not configured: bare" in runner.last.detail
    runs = client.get("/api/reconciliations", headers=AUTH).json["items"]
    assert sorted(r["account_id"] for r in runs) == ["acme", "beta"]
    only_beta = client.get("/api/reconciliations?account_id=beta", headers=AUTH).json
    assert [r["account_id"] for r in only_beta["items"]] == ["beta"]


def test_one_account_failing_does_not_stop_the_others(app, client, starshipit):
    ctx = app.extensions["stockmirror"]
    starshipit.fault = lambda r: (
        (401, {"statusCode": 401, "message": "Access denied"})
        if r.headers["StarShipIT-Api-Key"] == "acme-key"
        else None
    )
    runner = JobRunner(ctx.db, "test")

    status = runner.run("reconcile", None, lambda: reconcile_job(ctx.settings, ctx.db))

    assert status == "failed"
    assert "acme: failed: reconciliation 1: Starshipit: GET /api/orders/shipped: 401" in (
        runner.last.detail
    )
    runs = client.get("/api/reconciliations?account_id=beta", headers=AUTH).json["items"]
    assert [r["status"] for r in runs] == ["done"]


def test_polling_runs_for_every_account_with_its_own_keys(app, client, starshipit):
    ctx = app.extensions["stockmirror"]
    starshipit.add_unshipped(full_order(5, [("MUG", 1, None)], status="Unshipped"))

    result = poll_job(ctx.settings, ctx.db)

    assert {"acme-key", "beta-key"} == set(starshipit.keys_seen)
    assert result.detail.count("1 created") == 2
    for account in ("acme", "beta"):
        order = client.get(f"/api/orders/5?account_id={account}", headers=AUTH)
        assert order.status_code == 200


def test_a_reconciliation_through_the_api_uses_the_accounts_keys(client, starshipit):
    response = client.post(
        "/api/reconciliations?account_id=beta",
        json={"since": "2026-11-19T00:00:00Z", "until": "2026-11-22T00:00:00Z"},
        headers=AUTH,
    )
    assert response.status_code == 202
    assert set(starshipit.keys_seen) == {"beta-key"}
    unknown = client.post("/api/reconciliations?account_id=nope", json={}, headers=AUTH)
    assert unknown.status_code == 422
    bare = client.post("/api/reconciliations?account_id=bare", json={}, headers=AUTH)
    assert bare.status_code == 503
