"""Warehouse work in the console: orders, release, pick lists, stock, the ledger walk,
parked events."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.console_helpers import STARSHIPIT_SETTINGS, csrf_token, signed_in
from tests.helpers import AUTH, post_event, shipped_event


@pytest.fixture
def app_overrides():
    return dict(STARSHIPIT_SETTINGS)


@pytest.fixture
def ops(app):
    return signed_in(app, "ops")


def _text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _receive(client, sku: str, quantity: int, reference: str) -> None:
    response = client.post(
        "/api/movements",
        json={"sku": sku, "quantity": quantity, "type": "receipt", "reference": reference},
        headers=AUTH,
    )
    assert response.status_code == 201


def _order(client, order_id: int, items, date: str = "2026-11-20T01:00:00Z") -> None:
    body = shipped_event(f"c{order_id}", order_id, items, event_type="order_created")
    body["order"]["order_date"] = date
    body["order"]["platform"] = "Shopify" if order_id % 2 else "eBay"
    assert post_event(client, body).json["status"] == "applied"


def test_allocatable_filter_and_shortage_warning(client, ops):
    _receive(client, "MUG", 3, "r1")
    _order(client, 1, [("MUG", 2, None)])
    _order(client, 2, [("MUG", 5, None)])

    everything = _text(ops.get("/orders"))
    allocatable = _text(ops.get("/orders?allocatable=1"))

    assert "2 orders match" in everything
    assert "⚠ short: MUG needs 5, 3 available" in everything
    assert "Orders that can be fully reserved now" in allocatable
    assert ">N-1<" in allocatable and ">N-2<" not in allocatable


def test_allocatable_pages_check_batches_and_continue_where_the_scan_stopped(
    client, ops, monkeypatch
):
    from app.console import pages_ops, queries

    monkeypatch.setattr(queries, "ALLOCATABLE_BATCH", 4)
    monkeypatch.setattr(queries, "ALLOCATABLE_SCAN", 8)
    monkeypatch.setattr(pages_ops, "PER_PAGE", 3)
    _receive(client, "MUG", 1, "r1")
    for n in range(1, 21):  # odd orders want 1 MUG (allocatable), even ones 9 (short)
        _order(client, n, [("MUG", 1 if n % 2 else 9, None)], f"2026-11-{n:02d}T10:00:00Z")

    seen: list[str] = []
    url, pages = "/orders?allocatable=1", 0
    while url:
        page = _text(ops.get(url))
        pages += 1
        seen += re.findall(r'name="order_id" value="(\d+)"', page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url = found.group(1).replace("&amp;", "&") if found else ""

    assert seen == [str(n) for n in range(1, 21, 2)]
    assert pages >= 4


def test_filters_by_status_platform_dates_and_number(client, ops):
    _order(client, 1, [("MUG", 1, None)], "2026-11-18T10:00:00Z")
    _order(client, 2, [("MUG", 1, None)], "2026-11-20T10:00:00Z")
    _order(client, 3, [("MUG", 1, None)], "2026-11-22T10:00:00Z")

    assert "1 order matches" in _text(ops.get("/orders?platform=eBay"))
    dated = _text(ops.get("/orders?from=2026-11-19&to=2026-11-21"))
    assert "1 order matches" in dated and ">N-2<" in dated
    assert "1 order matches" in _text(ops.get("/orders?order_number=N-3"))
    assert "0 orders match" in _text(ops.get("/orders?order_number=NOPE"))
    assert "3 orders match" in _text(ops.get("/orders?status=PENDING"))
    assert ops.get("/orders?status=TYPO").status_code == 422
    assert ops.get("/orders?from=yesterday").status_code == 422


def test_pages_of_orders_follow_each_other_without_gaps(client, ops):
    for n in range(1, 121):
        _order(client, n, [("MUG", 1, None)], f"2026-11-{1 + n % 28:02d}T10:00:00Z")
    for n in range(121, 181):  # orders with no date come last, by id
        body = shipped_event(f"c{n}", n, [("MUG", 1, None)], event_type="order_created")
        del body["order"]["order_date"]
        assert post_event(client, body).json["status"] == "applied"

    seen: list[str] = []
    url = "/orders"
    while url:
        page = _text(ops.get(url))
        seen += re.findall(r'name="order_id" value="(\d+)"', page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url = found.group(1).replace("&amp;", "&") if found else ""

    assert len(seen) == 180 and len(set(seen)) == 180
    assert seen[120:] == [str(n) for n in range(121, 181)]


def test_release_several_then_print_and_download_their_pick_list(client, ops):
    _receive(client, "MUG", 10, "r1")
    for n in (1, 2, 3):
        _order(client, n, [("MUG", 2, None)])
    _order(client, 4, [("MUG", 50, None)])
    token = csrf_token(ops, "/orders")

    result = ops.post("/orders/release", data={"csrf_token": token, "order_id": ["1", "2", "4"]})

    page = _text(result)
    assert "2 orders released, 1 short of stock, 0 skipped" in page
    assert "MUG needs 50, 6 available" in page
    link = re.search(r'href="(/releases/\d+/picklist)"', page).group(1)
    picks = _text(ops.get(link))
    assert "Pick list for release" in picks and "N-1 ×2" in picks and "N-2 ×2" in picks
    assert ">4<" in picks  # 4 units of MUG at DEFAULT
    rows = list(csv.DictReader(io.StringIO(ops.get(link + ".csv").get_data(as_text=True))))
    assert [(r["order_number"], r["quantity"]) for r in rows] == [("N-1", "2"), ("N-2", "2")]
    assert client.get("/api/orders/1", headers=AUTH).json["allocation_status"] == "ALLOCATED"
    assert client.get("/api/orders/3", headers=AUTH).json["allocation_status"] == "UNALLOCATED"


def test_deallocate_selected_frees_the_stock(client, ops):
    _receive(client, "MUG", 10, "r1")
    _order(client, 1, [("MUG", 2, None)])
    token = csrf_token(ops, "/orders")
    ops.post("/orders/release", data={"csrf_token": token, "order_id": "1"})

    page = _text(ops.post("/orders/deallocate", data={"csrf_token": token, "order_id": "1"}))

    assert "1 order deallocated" in page
    assert client.get("/api/stock/MUG", headers=AUTH).json["allocated"] == 0


def test_order_page_shows_lines_and_a_voided_label_with_the_new_shipped_target(client, ops):
    _receive(client, "MUG", 10, "r1")
    post_event(client, shipped_event("s1", 5, [("MUG", 3, 3)], occurred_at="2026-11-20T05:00:00Z"))
    post_event(client, shipped_event("s2", 5, [("MUG", 3, 1)], occurred_at="2026-11-20T06:00:00Z"))

    page = _text(ops.get("/orders/N-5"))

    assert "Shipped</strong> 3 × " in page
    assert "Label voided</strong>: 2 × " in page and "the new shipped target is 1" in page
    assert "Partly shipped" in page


def test_order_picklist_for_one_order(client, ops):
    _receive(client, "MUG", 10, "r1")
    _order(client, 1, [("MUG", 2, None)])
    token = csrf_token(ops, "/orders/N-1")
    assert ops.post("/orders/N-1/release", data={"csrf_token": token}).status_code == 303

    page = _text(ops.get("/orders/N-1/picklist"))
    text = ops.get("/orders/N-1/picklist.csv").get_data(as_text=True)

    assert "Pick list for order N-1" in page and "data-print" in page
    assert text.splitlines()[1] == "DEFAULT,MUG,,2,N-1,MUG"


def test_stock_flags_and_the_ledger_walk_with_running_balance_and_causes(client, ops):
    _receive(client, "MUG", 5, "r1")
    post_event(client, shipped_event("s1", 7, [("MUG", 2, None)]))
    post_event(client, shipped_event("s2", 8, [("MUG", 4, None)]))

    listing = _text(ops.get("/stock?flag=negative"))
    walk = _text(ops.get("/stock/MUG"))

    assert "MUG" in listing and "⚠ below zero" in listing
    balances = re.findall(
        r'data-label="Change">(\S+)</td> <td class="num" data-label="Balance">(\S+)</td>', walk
    )
    assert balances == [("−4", "−1"), ("−2", "3"), ("+5", "5")]
    assert 'href="/orders/N-8"' in walk and "receipt r1" in walk
    assert "3 movements in all" in walk


def test_parked_events_are_listed_with_reasons_and_can_be_replayed(client, ops):
    post_event(client, shipped_event("evt-bad", 9, [("SKU-A", 1, 3)]))

    page = _text(ops.get("/events"))
    assert "evt-bad" in page and "quantity_shipped 3 exceeds quantity 1" in page
    token = csrf_token(ops, "/events")
    replayed = ops.post("/events/replay", data={"csrf_token": token, "event_id": "evt-bad"})

    assert replayed.status_code == 303
    assert "is still parked" in _text(ops.get("/events"))


def test_finance_sees_events_without_action_buttons(app, client):
    post_event(client, shipped_event("evt-bad", 9, [("SKU-A", 1, 3)]))
    finance = signed_in(app, "finance")

    page = _text(finance.get("/events"))

    assert "evt-bad" in page and ">Replay</button>" not in page


def test_overview_shows_backlog_risks_demand_and_last_run(client, ops):
    _receive(client, "MUG", 1, "r1")
    _order(client, 1, [("MUG", 4, None)], "2026-10-01T00:00:00Z")

    page = _text(ops.get("/"))

    assert "Open orders by stage and age" in page and "<svg" in page
    assert "1 order</strong> pending for more than 3 days" in page
    assert "MUG" in page and "⚠ 3" in page
    assert "No reconciliation has run yet" in page


def test_discard_retires_a_parked_event_keeping_the_reason(client, ops):
    post_event(client, shipped_event("evt-bad", 9, [("SKU-A", 1, 3)]))
    token = csrf_token(ops, "/events")

    response = ops.post(
        "/events/discard",
        data={"csrf_token": token, "event_id": "evt-bad", "reason": "test order, never shipped"},
    )

    assert response.status_code == 303
    assert "Event evt-bad discarded" in _text(ops.get("/events"))  # said once, then gone
    assert "evt-bad" not in _text(ops.get("/events"))
    stored = client.get("/api/events/evt-bad", headers=AUTH).json
    assert stored["status"] == "discarded"
    assert stored["discarded"]["reason"] == "test order, never shipped"
    assert stored["discarded"]["by"] == "ops@example.com"


def test_discard_of_an_applied_event_answers_409_and_changes_nothing(client, ops):
    post_event(client, shipped_event("evt-ok", 9, [("SKU-A", 1, 1)]))
    token = csrf_token(ops, "/events")

    response = ops.post(
        "/events/discard", data={"csrf_token": token, "event_id": "evt-ok", "reason": "x"}
    )

    assert response.status_code == 409
    assert client.get("/api/events/evt-ok", headers=AUTH).json["status"] == "applied"


@pytest.mark.parametrize(
    "path",
    [
        "/reconciliations/99999999999999999999999",
        "/reconciliations/99999999999999999999999.csv",
        "/reconciliations/1/drift/99999999999999999999999",
        "/reconciliations/99999999999999999999999/repair",
        "/releases/99999999999999999999999/picklist",
        "/releases/99999999999999999999999/picklist.csv",
        "/movements/9223372036854775808",
    ],
)
def test_a_console_path_id_beyond_int64_is_404_not_a_500(app, path):
    admin = signed_in(app, "admin")

    response = admin.get(path)

    assert response.status_code == 404, response.get_data(as_text=True)[:300]


def test_order_page_marks_a_line_without_a_sku_as_not_stocked(client, ops):
    body = shipped_event(
        "c7", 7, [("MUG", 1, None), ("GIFTWRAP", 1, None)], event_type="order_created"
    )
    custom = body["order"]["items"][1]
    del custom["sku"]
    custom["description"] = "Gift wrapping"
    assert post_event(client, body).json["status"] == "applied"

    page = _text(ops.get("/orders/N-7"))

    assert page.count("Not stocked") == 2  # the badge on the custom line, and its explanation
    assert "Gift wrapping" in page
    assert 'href="/stock/MUG"' in page
