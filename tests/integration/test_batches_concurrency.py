"""Two receipts of one serial at the same moment: exactly one wins (PostgreSQL row locks)."""

from __future__ import annotations

import threading

import pytest

from tests.e2e.inventory_helpers import call, ok, product
from tests.helpers import ledger


@pytest.mark.postgres_only
def test_concurrent_receipts_of_one_serial_put_it_on_hand_once(app, client, engine):
    product(client, "CAM", tracking="serial")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def receive(n: int) -> None:
        body = {
            "reference": f"GRN-{n}",
            "lines": [{"sku": "CAM", "quantity": 1, "serials": ["S1"]}],
        }
        mine = app.test_client()
        barrier.wait()
        statuses.append(call(mine, "POST", "/api/receipts", body).status_code)

    threads = [threading.Thread(target=receive, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [201, 409, 409, 409]
    assert ledger(engine) == {"CAM": 1}
    view = ok(call(client, "GET", "/api/stock/CAM"))
    assert [(loc["batch"], loc["on_hand"]) for loc in view["locations"]] == [("S1", 1)]
