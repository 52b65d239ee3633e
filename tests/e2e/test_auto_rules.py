"""STOCKMIRROR_ALLOCATION=auto: orders matching rules are allocated on arrival; every
decision is on the timeline; rules come from a file or the API (issue 5 point 5)."""

from __future__ import annotations

import json

import pytest

from tests.allocation_helpers import (
    assert_allocations_consistent,
    balances,
    create_order,
    order,
    order_event,
    receive,
)
from tests.conftest import make_test_app
from tests.helpers import AUTH, post_event


@pytest.fixture
def app_overrides():
    return {"allocation": "auto"}


def test_with_no_rule_every_new_order_is_allocated_on_arrival(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])

    body = order(client, 1)

    assert body["status"] == "RELEASED"
    assert body["allocation_status"] == "ALLOCATED"
    assert any("auto: rule default (all orders) matched" in t["detail"] for t in body["timeline"])
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (5, 2)}
    assert_allocations_consistent(engine)


def test_a_short_order_on_arrival_is_could_not_allocate_and_stays_pending(client):
    receive(client, "SKU-A", 1)
    create_order(client, 1, [("SKU-A", 2)])

    body = order(client, 1)

    assert (body["status"], body["allocation_status"]) == ("PENDING", "COULD_NOT_ALLOCATE")
    assert any("could not allocate" in t["detail"] for t in body["timeline"])


def test_rules_from_the_api_match_platform_and_record_misses(client, engine):
    created = client.post(
        "/api/allocation/rules", json={"platform": "Shopify", "name": "shopify"}, headers=AUTH
    )
    assert created.status_code == 201
    receive(client, "SKU-A", 10)

    create_order(client, 1, [("SKU-A", 1)], platform="Shopify")
    create_order(client, 2, [("SKU-A", 1)], platform="eBay")

    assert order(client, 1)["allocation_status"] == "ALLOCATED"
    missed = order(client, 2)
    assert missed["allocation_status"] == "UNALLOCATED"
    assert any("no rule matched" in t["detail"] for t in missed["timeline"])
    listed = client.get("/api/allocation/rules", headers=AUTH).json
    assert listed["mode"] == "auto"
    assert [r["platform"] for r in listed["items"]] == ["Shopify"]
    rule_id = created.json["id"]
    assert client.delete(f"/api/allocation/rules/{rule_id}", headers=AUTH).status_code == 204
    assert client.delete(f"/api/allocation/rules/{rule_id}", headers=AUTH).status_code == 404
    bad = client.post("/api/allocation/rules", json={"country": 3}, headers=AUTH)
    assert bad.status_code == 422
    assert "country" in bad.json["fields"]
    assert_allocations_consistent(engine)


def test_rules_from_a_file_match_destination_country(database_url, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"country": "NZ", "allow_partial": True}]))
    app = make_test_app(database_url, tmp_path, allocation="auto", allocation_rules_file=rules)
    client = app.test_client()
    receive(client, "SKU-A", 1)

    create_order(client, 1, [("SKU-A", 3)], country="NZ")
    create_order(client, 2, [("SKU-A", 1)], country="AU")

    assert order(client, 1)["allocation_status"] == "PARTIALLY_ALLOCATED"
    assert order(client, 2)["allocation_status"] == "UNALLOCATED"
    listed = client.get("/api/allocation/rules", headers=AUTH).json["items"]
    assert listed[0]["source"] == "file"
    app.extensions["stockmirror"].db.dispose()


def test_changed_lines_reallocate_through_the_rules_again(client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])

    post_event(
        client,
        order_event(1, [("SKU-A", 4)], event_type="order_changed", occurred_at="2026-11-20T06:00Z"),
    )

    body = order(client, 1)
    assert (body["status"], body["allocation_status"]) == ("RELEASED", "ALLOCATED")
    assert body["lines"][0]["quantity_allocated"] == 4
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (5, 4)}
    assert_allocations_consistent(engine)


def test_a_shipped_event_for_an_unseen_order_is_not_allocated(client, engine):
    receive(client, "SKU-A", 5)

    post_event(
        client,
        order_event(9, [("SKU-A", 2)], event_type="order_shipped", occurred_at="2026-11-20T05:00Z"),
    )

    body = order(client, 9)
    assert (body["status"], body["allocation_status"]) == ("SHIPPED", "UNALLOCATED")
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (3, 0)}


def test_a_bad_rules_file_or_strategy_stops_the_app_naming_the_setting(database_url, tmp_path):
    from app.config import ConfigError, Settings

    rules = tmp_path / "rules.json"
    rules.write_text('[{"colour": "red"}]')
    with pytest.raises(ConfigError, match="STOCKMIRROR_ALLOCATION_RULES"):
        make_test_app(database_url, tmp_path, allocation="auto", allocation_rules_file=rules)
    with pytest.raises(ConfigError, match="STOCKMIRROR_ALLOCATION_STRATEGY"):
        Settings.from_env({"STOCKMIRROR_ALLOCATION_STRATEGY": "lifo"})
