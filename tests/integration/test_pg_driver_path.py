"""The PostgreSQL ingest path runs fixed SQL through the driver; it must fail, retry and
lock exactly like the SQLAlchemy path it stands in for."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from app.db import is_retryable, pg_execute, pg_rows
from app.ledger import repository as ledger_repo
from app.orders import repository as orders_repo
from tests.helpers import AUTH, post_event, shipped_event

pytestmark = pytest.mark.postgres_only


def test_driver_errors_surface_as_sqlalchemy_errors(app):
    database = app.extensions["stockmirror"].db
    with pytest.raises(exc.ProgrammingError), database.write() as session:
        pg_rows(session, "SELECT no_such_column FROM orders", {})
    with pytest.raises(exc.IntegrityError), database.write() as session:
        pg_execute(session, "INSERT INTO orders (account_id) VALUES (%(a)s)", {"a": "x"})


def test_a_deadlock_in_a_driver_statement_is_retryable(app):
    database = app.extensions["stockmirror"].db
    raise_deadlock = (
        "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = 'deadlock_detected'; END $$"
    )
    with pytest.raises(exc.DBAPIError) as caught, database.write() as session:
        pg_execute(session, raise_deadlock, {})
    assert is_retryable(caught.value)


def test_database_run_retries_work_whose_driver_statement_deadlocked(app):
    database = app.extensions["stockmirror"].db
    attempts = []

    def work(session):
        attempts.append(1)
        if len(attempts) == 1:
            pg_execute(
                session,
                "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'deadlock_detected'; END $$",
                {},
            )
        return pg_rows(session, "SELECT 1 AS one", {})[0].one

    assert database.run(work) == 1
    assert len(attempts) == 2


def _lock_waiters(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def test_a_locked_order_makes_a_second_event_for_it_wait(app, client, engine):
    """The store-and-lock statement takes the order's row lock: an event for an order
    another transaction holds waits for that transaction, then applies on top of it."""
    post_event(client, shipped_event("E1", order_id=77, items=[("SKU-A", 1, 1)]))
    database = app.extensions["stockmirror"].db
    holding = threading.Event()
    release = threading.Event()

    def hold_lock():
        with database.write() as session:
            orders_repo.lock_order(session, "default", 77)
            holding.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert holding.wait(timeout=30)
    answers = []
    poster = threading.Thread(
        target=lambda: answers.append(
            post_event(client, shipped_event("E2", order_id=77, items=[("SKU-A", 2, 2)]))
        )
    )
    poster.start()
    deadline = time.monotonic() + 30
    while _lock_waiters(engine) == 0 and time.monotonic() < deadline:
        poster.join(timeout=0.01)  # poll the condition, not a fixed sleep
    waited = _lock_waiters(engine) == 1 and poster.is_alive()
    release.set()
    holder.join(timeout=30)
    poster.join(timeout=30)
    assert waited
    assert answers and answers[0].status_code == 200
    order = client.get("/api/orders/77", headers=AUTH).get_json()
    assert order["lines"][0]["quantity_shipped"] == 2


def test_shipping_facts_generic_plan_reads_products_and_balances_by_index(engine):
    """A catalogue of a thousand SKUs must not turn the per-event facts read into table
    scans: the plan PostgreSQL reuses for the prepared statement looks SKUs up by index."""
    sql = ledger_repo._PG_SHIPPING_FACTS.replace("%(skus)s", "$1")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO products (sku, tracking, bundle, created_at) "
            "SELECT 'SKU-' || n, 'none', 'none', now() FROM generate_series(1, 1000) n"
        )
        conn.exec_driver_sql(
            "INSERT INTO stock_balances (sku, location, batch, on_hand, allocated, updated_at) "
            "SELECT 'SKU-' || n, 'DEFAULT', '', 0, 0, now() FROM generate_series(1, 1000) n"
        )
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE products")
        conn.exec_driver_sql("ANALYZE stock_balances")
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE facts(text) AS {sql}")
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql('EXPLAIN EXECUTE facts(\'["SKU-1", "SKU-2"]\')')
        )
    assert "Index Scan using pk_products" in plan, plan
    assert "Index Scan using uq_stock_balances_sku_location_batch" in plan, plan
    assert "Seq Scan on products" not in plan and "Seq Scan on stock_balances" not in plan, plan
