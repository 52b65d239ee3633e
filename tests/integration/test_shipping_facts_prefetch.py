"""Shipping facts read by the ingest statement are used once, in that transaction only."""

from __future__ import annotations

from app.ledger import repository as ledger_repo
from tests.helpers import post_event, shipped_event

# (sku, strategy, bundle, location, batch, on_hand, allocated, kind, sequence,
#  received_at, expiry), as PG_SHIPPING_FACTS_JSON returns them
_PREFETCHED_ROW = ["SKU-A", None, "none", "PREFETCHED", "", 9, 0, "bulk", 0, None, None]


def _places(facts):
    return [(p.location, p.available) for p in facts.places["SKU-A"]]


def test_prefetched_facts_serve_the_next_read_once(app, client):
    post_event(client, shipped_event("E1", order_id=1, items=[("SKU-A", 1, 1)]))
    database = app.extensions["stockmirror"].db
    with database.write() as session:
        ledger_repo.prefetched_shipping_facts(session, ["SKU-A"], [_PREFETCHED_ROW])
        first = ledger_repo.shipping_facts(session, ["SKU-A"])
        second = ledger_repo.shipping_facts(session, ["SKU-A"])
    assert _places(first) == [("PREFETCHED", 9)]
    assert _places(second) == [("DEFAULT", -1)]  # read from the database


def test_prefetched_facts_for_other_skus_are_not_used(app, client):
    post_event(client, shipped_event("E1", order_id=1, items=[("SKU-A", 1, 1)]))
    database = app.extensions["stockmirror"].db
    with database.write() as session:
        ledger_repo.prefetched_shipping_facts(session, ["SKU-B"], [])
        facts = ledger_repo.shipping_facts(session, ["SKU-A"])
    assert _places(facts) == [("DEFAULT", -1)]


def test_prefetched_facts_do_not_outlive_their_transaction(app, client):
    post_event(client, shipped_event("E1", order_id=1, items=[("SKU-A", 1, 1)]))
    database = app.extensions["stockmirror"].db
    session = database._sessions()
    try:
        session.begin()
        ledger_repo.prefetched_shipping_facts(session, ["SKU-A"], [_PREFETCHED_ROW])
        session.commit()
        session.begin()
        facts = ledger_repo.shipping_facts(session, ["SKU-A"])
        session.commit()
    finally:
        session.close()
    assert _places(facts) == [("DEFAULT", -1)]
