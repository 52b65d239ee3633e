"""Reconciliation: every drift category from fixtures, a clean window stays clean, repair."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses
import sqlalchemy as sa

from app.reconcile.service import repair_run, run_reconciliation
from tests.helpers import AUTH, ledger, post_event, shipped_event
from tests.reconcile_fake import FakeStarshipit, full_order, make_client

SINCE = datetime(2026, 11, 19, tzinfo=UTC)
UNTIL = datetime(2026, 11, 22, tzinfo=UTC)
ZERO = {
    "missing_shipment": 0,
    "unexpected_shipment": 0,
    "quantity_mismatch": 0,
    "unknown_order": 0,
    "status_mismatch": 0,
    "negative_stock": 0,
    "unshipped_missing": 0,
}


@pytest.fixture
def starshipit():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeStarshipit(rsps)


@pytest.fixture
def db(app):
    return app.extensions["stockmirror"].db


def receive(client, sku: str, quantity: int) -> None:
    body = {"sku": sku, "quantity": quantity, "type": "receipt", "reference": f"rcv-{sku}"}
    assert client.post("/api/movements", json=body, headers=AUTH).status_code in (200, 201)


def reconcile(db, **kwargs):
    client = make_client()
    run_id = run_reconciliation(db, client, since=SINCE, until=UNTIL, **kwargs)
    with db.engine.connect() as conn:
        run = conn.execute(
            sa.text(
                "SELECT status, summary, matched, api_calls FROM reconciliation_runs WHERE id = :id"
            ),
            {"id": run_id},
        ).one()
        drift = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT id, category, order_id, sku, expected, actual, detail "
                    "FROM reconciliation_drift WHERE run_id = :id ORDER BY id"
                ),
                {"id": run_id},
            )
        ]
    summary = run.summary if isinstance(run.summary, dict) else json.loads(run.summary)
    return run_id, run, summary, drift


def counts(summary):
    return {k: summary[k] for k in ZERO}


def test_a_window_where_everything_lines_up_is_clean_and_needs_no_detail_calls(
    client, db, starshipit
):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)]))
    post_event(client, shipped_event("e2", 2, [("MUG", 1, None)], event_type="order_created"))
    starshipit.ship(full_order(1, [("MUG", 2, 2)]))
    starshipit.add_unshipped(full_order(2, [("MUG", 1, None)], status="Unshipped"))

    _, run, summary, drift = reconcile(db)

    assert run.status == "done"
    assert drift == []
    assert counts(summary) == ZERO
    assert run.matched == 1
    assert starshipit.detail_calls == []
    assert run.api_calls == 2  # one shipped page, one unshipped page


def test_shipped_in_starshipit_but_not_in_the_ledger_is_a_missing_shipment(client, db, starshipit):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    starshipit.ship(full_order(1, [("MUG", 2, 2)]))

    _, _, summary, drift = reconcile(db)

    assert summary["missing_shipment"] == 1
    assert [
        (d["category"], d["order_id"], d["sku"], d["expected"], d["actual"]) for d in drift
    ] == [("missing_shipment", 1, "MUG", "2", "0")]


def test_shipped_order_never_mirrored_is_an_unknown_order(client, db, starshipit):
    starshipit.ship(full_order(7, [("MUG", 1, None), ("TEA", 2, None)]))

    _, _, summary, drift = reconcile(db)

    assert counts(summary) == ZERO | {"unknown_order": 1}
    assert drift[0]["category"] == "unknown_order"
    assert drift[0]["order_id"] == 7
    assert drift[0]["expected"] == "3"
    assert "MUG ×1, TEA ×2" in drift[0]["detail"]


def test_ledger_shipping_fewer_units_than_starshipit_is_a_quantity_mismatch(client, db, starshipit):
    receive(client, "TEA", 10)
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 3, [("MUG", 1, 1), ("TEA", 2, 1)]))
    starshipit.ship(full_order(3, [("MUG", 1, 1), ("TEA", 2, 2)]))

    _, _, summary, drift = reconcile(db)

    assert counts(summary) == ZERO | {"quantity_mismatch": 1}
    assert [(d["sku"], d["expected"], d["actual"]) for d in drift] == [("TEA", "2", "1")]


def test_ledger_shipment_that_starshipit_never_shipped_is_unexpected(client, db, starshipit):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 4, [("MUG", 2, None)]))
    starshipit.orders[4] = full_order(4, [("MUG", 2, None)], status="Unshipped")

    _, _, summary, drift = reconcile(db)

    assert counts(summary) == ZERO | {"unexpected_shipment": 1}
    assert [(d["category"], d["sku"], d["expected"], d["actual"]) for d in drift] == [
        ("unexpected_shipment", "MUG", "0", "2")
    ]


def test_ledger_shipment_outside_starshipits_list_but_shipped_there_is_not_drift(
    client, db, starshipit
):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 4, [("MUG", 2, None)]))
    starshipit.orders[4] = full_order(4, [("MUG", 2, 2)], status="Delivered")

    _, run, summary, drift = reconcile(db)

    assert drift == []
    assert run.matched == 1


def test_mirror_shipped_or_cancelled_while_starshipit_lists_it_unshipped_is_status_mismatch(
    client, db, starshipit
):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 5, [("MUG", 1, None)]))
    starshipit.add_unshipped(full_order(5, [("MUG", 1, None)], status="Unshipped"))
    deleted = shipped_event("e2", 6, [("MUG", 1, None)], event_type="order_deleted")
    post_event(client, deleted)
    starshipit.add_unshipped(full_order(6, [("MUG", 1, None)], status="Unshipped"))

    _, _, summary, drift = reconcile(db)

    assert counts(summary) == ZERO | {"status_mismatch": 2}
    assert [(d["order_id"], d["expected"], d["actual"]) for d in drift] == [
        (5, "Unshipped", "SHIPPED"),
        (6, "Unshipped", "CANCELLED"),
    ]


def test_unshipped_order_never_mirrored_is_unshipped_missing(client, db, starshipit):
    starshipit.add_unshipped(full_order(8, [("MUG", 1, None)], status="Unshipped"))

    _, _, summary, drift = reconcile(db)

    assert counts(summary) == ZERO | {"unshipped_missing": 1}
    assert drift[0]["order_id"] == 8


def test_sku_below_zero_is_reported_as_negative_stock(client, db, starshipit):
    receive(client, "MUG", 1)
    post_event(client, shipped_event("e1", 9, [("MUG", 3, None)]))
    starshipit.ship(full_order(9, [("MUG", 3, 3)]))

    _, _, summary, drift = reconcile(db)

    assert counts(summary) == ZERO | {"negative_stock": 1}
    assert [(d["category"], d["sku"], d["actual"]) for d in drift] == [
        ("negative_stock", "MUG", "-2")
    ]


def test_shipped_rows_after_the_window_are_left_for_the_next_run(client, db, starshipit):
    starshipit.ship(full_order(7, [("MUG", 1, None)]), shipped_date="2026-11-23T00:00:00Z")

    _, run, summary, drift = reconcile(db)

    assert drift == []
    assert starshipit.detail_calls == []


def test_repair_applies_missing_shipments_and_a_rerun_is_clean(client, db, starshipit, engine):
    receive(client, "MUG", 20)
    receive(client, "TEA", 20)
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    post_event(client, shipped_event("e3", 3, [("MUG", 1, 1), ("TEA", 2, 1)]))
    starshipit.ship(full_order(1, [("MUG", 2, 2)]))
    starshipit.ship(full_order(3, [("MUG", 1, 1), ("TEA", 2, 2)]))
    starshipit.ship(full_order(7, [("TEA", 4, None)]))
    run_id, _, summary, drift = reconcile(db)
    assert summary["missing_shipment"] == summary["quantity_mismatch"] == 1
    assert summary["unknown_order"] == 1

    result = repair_run(db, run_id)

    assert result.repaired == 3
    assert result.skipped == []
    assert ledger(engine) == {"MUG": 20 - 2 - 1, "TEA": 20 - 2 - 4}
    with engine.connect() as conn:
        cited = conn.execute(
            sa.text(
                "SELECT order_id, event_id, actor FROM stock_movements "
                "WHERE event_id LIKE 'reconcile:%' ORDER BY order_id"
            )
        ).all()
    by_order = {d["order_id"]: d["id"] for d in drift}
    assert [(r.order_id, r.event_id) for r in cited] == [
        (1, f"reconcile:{run_id}:{by_order[1]}"),
        (3, f"reconcile:{run_id}:{by_order[3]}"),
        (7, f"reconcile:{run_id}:{by_order[7]}"),
    ]
    assert {r.actor for r in cited} == {f"reconcile:{run_id}"}

    again = repair_run(db, run_id)
    assert again.repaired == 0
    assert {s["reason"] for s in again.skipped} == {"already repaired"}
    assert ledger(engine) == {"MUG": 17, "TEA": 14}

    _, run, summary, drift = reconcile(db)
    assert drift == []
    assert counts(summary) == ZERO
    assert run.matched == 3


def test_repair_never_touches_categories_people_must_resolve(client, db, starshipit, engine):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 4, [("MUG", 2, None)]))
    starshipit.orders[4] = full_order(4, [("MUG", 2, None)], status="Unshipped")
    starshipit.add_unshipped(full_order(8, [("MUG", 1, None)], status="Unshipped"))
    run_id, _, summary, _ = reconcile(db)
    assert summary["unexpected_shipment"] == summary["unshipped_missing"] == 1
    before = ledger(engine)

    assert repair_run(db, run_id).repaired == 0
    assert ledger(engine) == before


def test_repair_of_an_order_the_mirror_learnt_more_about_since_is_skipped(
    client, db, starshipit, engine
):
    receive(client, "MUG", 10)
    post_event(client, shipped_event("e1", 1, [("MUG", 2, None)], event_type="order_created"))
    starshipit.ship(full_order(1, [("MUG", 2, 2)]))
    run_id, *_ = reconcile(db)
    later = shipped_event("e9", 1, [("MUG", 2, 1)], occurred_at="2099-01-01T00:00:00Z")
    post_event(client, later)

    result = repair_run(db, run_id)

    assert result.repaired == 0
    assert "newer information" in result.skipped[0]["reason"]
    assert ledger(engine) == {"MUG": 9}


def test_starshipit_down_fails_the_run_and_records_why(client, db, starshipit):
    starshipit.down = True
    with pytest.raises(Exception, match="503"):
        run_reconciliation(db, make_client(max_retries=1), since=SINCE, until=UNTIL)
    with db.engine.connect() as conn:
        status, error = conn.execute(sa.text("SELECT status, error FROM reconciliation_runs")).one()
    assert status == "failed"
    assert "503" in error


def test_many_pages_cost_one_call_per_page_plus_one_per_drifted_order(client, db, starshipit):
    starshipit.page_size = 2
    receive(client, "MUG", 50)
    for oid in range(1, 6):
        post_event(client, shipped_event(f"e{oid}", oid, [("MUG", 1, None)]))
        starshipit.ship(full_order(oid, [("MUG", 1, 1)]))
    starshipit.ship(full_order(6, [("MUG", 1, 1)]))  # the one drifted order

    _, run, summary, drift = reconcile(db)

    assert [d["order_id"] for d in drift] == [6]
    assert run.matched == 5
    assert run.api_calls == 3 + 1 + 1  # 3 shipped pages, 1 unshipped page, 1 detail


def test_default_window_starts_at_the_last_successful_run_minus_the_overlap(db, starshipit):
    from datetime import timedelta

    from app.reconcile.service import resolve_window

    reconcile(db)
    since, until = resolve_window(db, "default", None, None, timedelta(minutes=60))

    assert since == UNTIL - timedelta(minutes=60)
    assert until > UNTIL
