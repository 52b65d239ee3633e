"""Starshipit's own answer shapes (tests/fixtures) read by the client and reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import responses
import sqlalchemy as sa

from app.reconcile.service import run_reconciliation
from tests.helpers import AUTH, example, post_event
from tests.reconcile_fake import BASE, make_client

SINCE = datetime(2026, 11, 19, tzinfo=UTC)
UNTIL = datetime(2026, 11, 22, tzinfo=UTC)
STREAM = ("order_created", "order_changed", "order_shipped_partial", "order_shipped_full")


@responses.activate
def test_unshipped_rows_reach_the_caller_as_starshipit_sent_them():
    page = example("starshipit_unshipped_page")
    responses.get(f"{BASE}/api/orders/unshipped", json=page)

    [(number, total, rows)] = list(make_client().unshipped_pages(SINCE))

    assert (number, total) == (1, 1)
    assert rows == page["orders"]
    custom = rows[0]["items"][0]
    assert "sku" not in custom  # a custom line, as real listings carry them
    assert rows[1]["items"] == []


def test_the_fixture_stream_reconciles_cleanly_against_starshipits_answers(app, client):
    for sku in ("CNDL-KWK-200", "WICK-TRIM-BR"):
        receipt = {"sku": sku, "quantity": 20, "type": "receipt", "reference": f"rcv-{sku}"}
        assert client.post("/api/movements", json=receipt, headers=AUTH).status_code == 201
    for name in STREAM:
        assert post_event(client, example(name)).json["status"] == "applied"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{BASE}/api/orders/shipped", json=example("starshipit_shipped_page"))
        rsps.get(f"{BASE}/api/orders/unshipped", json={"success": True, "orders": []})
        rsps.get(f"{BASE}/api/orders", json=example("starshipit_get_order"))
        db = app.extensions["stockmirror"].db
        run_id = run_reconciliation(
            db, make_client(), account_id="kowhai-nz", since=SINCE, until=UNTIL
        )
    with db.engine.connect() as conn:
        run = conn.execute(
            sa.text("SELECT status, summary, matched FROM reconciliation_runs WHERE id = :id"),
            {"id": run_id},
        ).one()
        drift = conn.execute(
            sa.text("SELECT count(*) FROM reconciliation_drift WHERE run_id = :id"), {"id": run_id}
        ).scalar_one()
    summary = run.summary if isinstance(run.summary, dict) else json.loads(run.summary)
    assert run.status == "done"
    assert drift == 0, json.dumps(summary)
    assert (run.matched, summary["checked"]) == (1, 1)
