"""Concurrent deliveries lose no update and never double-apply (threads share one app;
the multi-process variant runs two gunicorn workers)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.helpers import (
    SECRET,
    TOKEN,
    assert_ledger_consistent,
    free_port,
    ledger,
    post_event,
    shipped_event,
    signed_headers,
)

ROOT = Path(__file__).resolve().parents[2]


def run_together(count, work):
    barrier = threading.Barrier(count)

    def start(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def test_ten_concurrent_deliveries_of_one_event_have_one_effect(app, engine):
    body = shipped_event("evt-same", 1, [("SKU-A", 3, None), ("SKU-B", 1, None)])
    statuses = run_together(10, lambda _: post_event(app.test_client(), body).json["status"])
    assert Counter(statuses) == {"applied": 1, "duplicate": 9}
    assert ledger(engine) == {"SKU-A": -3, "SKU-B": -1}


def test_concurrent_events_on_shared_skus_lose_no_update(app, engine):
    rng = random.Random(7)
    skus = [f"SKU-{n}" for n in range(5)]
    events = []
    expected: Counter[str] = Counter()
    for n in range(40):
        items = [(sku, rng.randint(1, 3), None) for sku in rng.sample(skus, rng.randint(1, 4))]
        events.append(shipped_event(f"e{n}", 1000 + n, items))
        for sku, qty, _ in items:
            expected[sku] -= qty
    chunks = [events[i::8] for i in range(8)]

    def deliver(i):
        client = app.test_client()
        return [post_event(client, body).json["status"] for body in chunks[i]]

    statuses = [s for chunk in run_together(8, deliver) for s in chunk]
    assert statuses == ["applied"] * 40
    assert ledger(engine) == dict(expected)
    assert_ledger_consistent(engine)


def test_concurrent_shipped_events_for_one_order_converge_to_the_newest_target(app, engine):
    events = [
        shipped_event(f"e{n}", 5, [("SKU-A", 10, n)], f"2026-11-20T0{n}:00:00Z")
        for n in range(1, 9)
    ]
    run_together(8, lambda i: post_event(app.test_client(), events[i]).json["status"])
    assert ledger(engine) == {"SKU-A": -8}


def test_concurrent_manual_movements_with_one_reference_count_once(app, engine):
    body = {"sku": "SKU-A", "quantity": 5, "type": "receipt", "reference": "PO-9"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    codes = run_together(
        6,
        lambda _: app.test_client().post("/api/movements", json=body, headers=headers).status_code,
    )
    assert sorted(codes) == [200] * 5 + [201]
    assert ledger(engine) == {"SKU-A": 5}


@pytest.fixture
def gunicorn_server(database_url, tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        STOCKMIRROR_WEBHOOK_SECRETS=SECRET,
        STOCKMIRROR_API_TOKENS=TOKEN,
        STOCKMIRROR_INSTANCE_PATH=str(tmp_path / "instance"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # wait for the listening socket (process start-up, not synchronisation)
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "no output")
        time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=30)
    if process.stderr:
        process.stderr.close()


def test_two_gunicorn_workers_lose_no_update_and_never_double_apply(gunicorn_server, database_url):
    import sqlalchemy as sa

    rng = random.Random(11)
    bodies = []
    expected: Counter[str] = Counter()
    for n in range(60):
        items = [(f"SKU-{k}", rng.randint(1, 2), None) for k in rng.sample(range(4), 2)]
        bodies.append(json.dumps(shipped_event(f"g{n}", 5000 + n, items)).encode())
        for sku, qty, _ in items:
            expected[sku] -= qty
    deliveries = bodies + bodies[:20]  # a third of them redelivered

    def deliver(raw):
        response = requests.post(
            f"{gunicorn_server}/webhooks/starshipit/orders",
            data=raw,
            headers=signed_headers(raw),
            timeout=30,
        )
        return response.status_code, response.json()["status"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, deliveries))
    assert Counter(results) == {(200, "applied"): 60, (200, "duplicate"): 20}
    engine = sa.create_engine(database_url)
    try:
        assert ledger(engine) == dict(expected)
        assert_ledger_consistent(engine)
    finally:
        engine.dispose()
