"""The Starshipit client against `responses`: headers, timeouts, pages, 429, 5xx, errors."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
import responses

from app.reconcile.client import (
    StarshipitClient,
    StarshipitError,
    StarshipitNotConfigured,
    StarshipitUnavailable,
    TokenBucket,
)
from tests.reconcile_fake import API_KEY, BASE, SUB_KEY, FakeClock, make_client

SINCE = datetime(2026, 11, 20, tzinfo=UTC)
ORDER = {"success": True, "order": {"order_id": 1, "order_number": "N-1", "items": []}}


def page(orders: list[dict], total: int) -> dict:
    return {"success": True, "orders": orders, "total_pages": total}


@responses.activate
def test_every_call_sends_both_keys_and_a_timeout():
    responses.get(f"{BASE}/api/orders", json=ORDER)
    make_client(timeout=(3.0, 7.0)).get_order(order_id=1)
    call = responses.calls[0]
    assert call.request.headers["StarShipIT-Api-Key"] == API_KEY
    assert call.request.headers["Ocp-Apim-Subscription-Key"] == SUB_KEY
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.req_kwargs["timeout"] == (3.0, 7.0)
    assert "order_id=1" in call.request.url


@responses.activate
def test_order_is_looked_up_by_number():
    responses.get(f"{BASE}/api/orders", json=ORDER)
    assert make_client().get_order(order_number="NZ 10482")["order_id"] == 1
    assert "order_number=NZ+10482" in responses.calls[0].request.url


@responses.activate
def test_pages_are_followed_until_total_pages():
    for n in (1, 2, 3):
        responses.get(
            f"{BASE}/api/orders/shipped",
            json=page([{"order_id": n * 10 + i} for i in range(2)], 3),
            match=[responses.matchers.query_param_matcher({"page": str(n)}, strict_match=False)],
        )
    pages = list(make_client().shipped_pages(SINCE, limit=2))
    assert [(p, total, [r["order_id"] for r in rows]) for p, total, rows in pages] == [
        (1, 3, [10, 11]),
        (2, 3, [20, 21]),
        (3, 3, [30, 31]),
    ]
    first = responses.calls[0].request.url
    assert "since_last_updated=2026-11-20T00%3A00%3A00Z" in first
    assert "limit=2" in first


@responses.activate
def test_without_total_pages_a_short_page_ends_the_listing():
    responses.get(f"{BASE}/api/orders/unshipped", json={"success": True, "orders": [{"a": 1}]})
    assert len(list(make_client().unshipped_pages(SINCE, limit=2))) == 1
    assert len(responses.calls) == 1


@responses.activate
def test_short_pages_are_followed_while_total_pages_says_there_are_more():
    responses.get(f"{BASE}/api/orders/unshipped", json=page([{"order_id": 1}], 2))
    responses.get(f"{BASE}/api/orders/unshipped", json=page([{"order_id": 2}], 2))
    assert len(list(make_client().unshipped_pages(SINCE, limit=250))) == 2


@responses.activate
def test_an_empty_page_ends_the_listing_whatever_total_pages_says():
    responses.get(f"{BASE}/api/orders/shipped", json=page([], 50))
    assert len(list(make_client().shipped_pages(SINCE))) == 1
    assert len(responses.calls) == 1


@responses.activate
def test_429_waits_for_retry_after_then_succeeds():
    clock = FakeClock()
    responses.get(f"{BASE}/api/orders", status=429, headers={"Retry-After": "7"}, json={})
    responses.get(f"{BASE}/api/orders", json=ORDER)
    client = make_client(clock)
    assert client.get_order(order_id=1)["order_id"] == 1
    assert clock.sleeps == [7.0]
    assert client.calls == 2


@responses.activate
def test_5xx_is_retried_with_growing_jittered_backoff_then_gives_up():
    clock = FakeClock()
    responses.get(f"{BASE}/api/orders", status=503, body="busy")
    client = make_client(clock, max_retries=3, backoff_base=0.5, rng=lambda: 0.0)
    with pytest.raises(StarshipitUnavailable, match="503: busy \\(after 4 attempts\\)"):
        client.get_order(order_id=1)
    assert len(responses.calls) == 4
    assert clock.sleeps == [0.25, 0.5, 1.0]  # half of 0.5·2^n with jitter 0


@responses.activate
def test_5xx_then_success_returns_the_answer():
    responses.get(f"{BASE}/api/orders", status=502, body="bad gateway")
    responses.get(f"{BASE}/api/orders", json=ORDER)
    assert make_client().get_order(order_id=1)["order_number"] == "N-1"


@responses.activate
def test_timeouts_and_connection_errors_are_retried_then_reported_unavailable():
    responses.get(f"{BASE}/api/orders", body=requests.Timeout("read timed out"))
    responses.get(f"{BASE}/api/orders", body=requests.ConnectionError("refused"))
    client = make_client(max_retries=1)
    with pytest.raises(StarshipitUnavailable, match="ConnectionError"):
        client.get_order(order_id=1)
    assert client.calls == 2


@responses.activate
def test_success_false_is_an_error_naming_starshipits_message():
    body = {"success": False, "errors": [{"message": "Order not found", "details": "id 1"}]}
    responses.get(f"{BASE}/api/orders", json=body)
    with pytest.raises(StarshipitError, match="Order not found \\(id 1\\)") as error:
        make_client().get_order(order_id=1)
    assert not isinstance(error.value, StarshipitUnavailable)


@responses.activate
def test_success_given_as_1_counts_as_success():
    responses.get(f"{BASE}/api/orders", json={"success": 1, "order": {"order_id": 5}})
    assert make_client().get_order(order_id=5) == {"order_id": 5}


@responses.activate
def test_gateway_error_body_is_reported_with_its_status_and_message():
    responses.get(
        f"{BASE}/api/orders",
        status=401,
        json={"statusCode": 401, "message": "Access denied due to invalid subscription key."},
    )
    with pytest.raises(StarshipitError, match="invalid subscription key") as error:
        make_client().get_order(order_id=1)
    assert error.value.status == 401
    assert len(responses.calls) == 1  # not retried


@responses.activate
def test_rate_limit_spaces_calls_at_the_configured_rate():
    clock = FakeClock()
    stamps: list[float] = []

    def answer(request):
        stamps.append(clock.now)
        return 200, {}, json.dumps(ORDER)

    responses.add_callback(responses.GET, f"{BASE}/api/orders", callback=answer)
    client = make_client(clock, bucket=TokenBucket(2, clock=clock, sleep=clock.sleep))
    for _ in range(5):
        client.get_order(order_id=1)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert gaps == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_token_bucket_is_shared_fairly_by_threads():
    bucket = TokenBucket(50, capacity=1)
    start = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(5)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 tokens at 50/s with a burst of 1: at least 19 intervals of 20 ms.
    assert time.monotonic() - start >= 19 / 50 - 0.01


@responses.activate
def test_keys_never_appear_in_logs_errors_or_repr(caplog):
    caplog.set_level(logging.DEBUG)
    responses.get(f"{BASE}/api/orders", status=500, body="oops")
    client = make_client(max_retries=2)
    with pytest.raises(StarshipitUnavailable) as error:
        client.get_order(order_id=1)
    for text in (caplog.text, str(error.value), repr(client)):
        assert API_KEY not in text
        assert SUB_KEY not in text
    assert "retry" in caplog.text


def test_missing_keys_mean_not_configured():
    with pytest.raises(StarshipitNotConfigured, match="not configured"):
        StarshipitClient(BASE, None, SUB_KEY)


@responses.activate
def test_success_false_on_a_read_is_retried_with_backoff_like_a_5xx():
    clock = FakeClock()
    failing = {"success": False, "errors": [{"message": "An error has occurred"}]}
    responses.get(f"{BASE}/api/orders/shipped", json=failing)
    responses.get(f"{BASE}/api/orders/shipped", json=failing)
    responses.get(f"{BASE}/api/orders/shipped", json=page([{"order_id": 1}], 1))
    client = make_client(clock, rng=lambda: 0.0)
    pages = list(client.shipped_pages(SINCE))
    assert [rows for _, _, rows in pages] == [[{"order_id": 1}]]
    assert client.calls == 3
    assert clock.sleeps == [0.25, 0.5]


@responses.activate
def test_success_false_that_persists_gives_up_after_the_retries():
    failing = {"success": False, "errors": [{"message": "An error has occurred"}]}
    responses.get(f"{BASE}/api/orders/unshipped", json=failing)
    client = make_client(max_retries=2)
    with pytest.raises(StarshipitError, match="An error has occurred \\(after 3 attempts\\)"):
        list(client.unshipped_pages(SINCE))
    assert client.calls == 3


@responses.activate
def test_success_false_saying_not_found_is_an_answer_and_not_retried():
    body = {"success": False, "errors": [{"message": "Order not found"}]}
    responses.get(f"{BASE}/api/orders", json=body)
    client = make_client()
    with pytest.raises(StarshipitError, match="Order not found"):
        client.get_order(order_id=1)
    assert client.calls == 1


@responses.activate
def test_a_gateway_429_or_5xx_body_sent_with_http_200_is_retried():
    clock = FakeClock()
    responses.get(f"{BASE}/api/orders", json={"statusCode": 429, "message": "Rate limit"})
    responses.get(f"{BASE}/api/orders", json={"statusCode": 503, "message": "Busy"})
    responses.get(f"{BASE}/api/orders", json=ORDER)
    client = make_client(clock)
    assert client.get_order(order_id=1)["order_id"] == 1
    assert client.calls == 3


@responses.activate
def test_listing_can_start_at_a_later_page_to_resume_a_run():
    responses.get(f"{BASE}/api/orders/shipped", json=page([{"order_id": 3}], 3))
    pages = list(make_client().shipped_pages(SINCE, first_page=3))
    assert [p for p, _, _ in pages] == [3]
    assert "page=3" in responses.calls[0].request.url


def test_each_account_has_its_own_rate_limit_bucket():
    from app.reconcile.client import shared_bucket

    a = shared_bucket("https://x.test", 2.0, "a")
    assert shared_bucket("https://x.test", 2.0, "a") is a
    assert shared_bucket("https://x.test", 2.0, "b") is not a
