"""A release that waits for an order's lock must see what the lock holder wrote
(PostgreSQL: a joined `SELECT … FOR UPDATE` would re-read only the locked row)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from app.allocation import repository as repo
from app.allocation.config import AllocationConfig
from app.allocation.service import free_allocations, release_order
from tests.allocation_helpers import (
    assert_allocations_consistent,
    create_order,
    order,
    receive,
    release,
)


@pytest.fixture
def app_overrides():
    return {"allocation": "manual"}


def _wait_until_blocked(engine, timeout=30.0) -> None:
    """Until some other session waits for a row lock (polls pg_stat_activity)."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the release never waited for the order lock")


@pytest.mark.postgres_only
def test_release_waiting_for_the_order_lock_sees_the_lines_written_meanwhile(app, client, engine):
    receive(client, "SKU-A", 5)
    create_order(client, 1, [("SKU-A", 2)])
    assert release(client, 1).status_code == 200
    database = app.extensions["stockmirror"].db
    outcome: list[object] = []

    with database.write() as session:  # another transaction holds the order, frees it
        held = repo.lock_order(session, "default", 1)
        assert held is not None
        free_allocations(session, held, "test: freed while a release waits")
        held.status = "PENDING"
        session.flush()

        releaser = threading.Thread(
            target=lambda: outcome.append(
                release_order(
                    database,
                    AllocationConfig(mode="manual"),
                    account_id="default",
                    order_id=1,
                    allow_partial=False,
                    actor="test",
                )
            )
        )
        releaser.start()
        _wait_until_blocked(engine)
    releaser.join(timeout=60)

    body = order(client, 1)
    assert (body["status"], body["allocation_status"]) == ("RELEASED", "ALLOCATED")
    assert body["lines"][0]["quantity_allocated"] == 2
    assert_allocations_consistent(engine)
