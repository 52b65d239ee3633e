"""The database is the backstop against oversell: the guarded UPDATE and the
stock_balances trigger refuse allocating more than on hand, whatever the caller checked."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.allocation import repository as repo
from tests.allocation_helpers import balances, receive


def _balance_id(engine, sku):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT id FROM stock_balances WHERE sku = :s"), {"s": sku}
        ).scalar_one()


def test_guarded_update_refuses_an_increase_above_on_hand(app, client, engine):
    receive(client, "SKU-A", 3)
    bid = _balance_id(engine, "SKU-A")
    database = app.extensions["stockmirror"].db

    with pytest.raises(repo.OversellRefused), database.write() as session:
        repo.change_allocated(session, {bid: 4})

    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (3, 0)}


def test_release_writes_refuse_an_increase_above_on_hand(app, client, engine):
    receive(client, "SKU-A", 3)
    bid = _balance_id(engine, "SKU-A")
    database = app.extensions["stockmirror"].db

    with pytest.raises(repo.OversellRefused), database.write() as session:
        repo.write_release(
            session, allocations=[], deltas={bid: 4}, orders=[], lines=[], timeline=[]
        )

    with database.write() as session:  # within on hand it goes through
        repo.write_release(
            session, allocations=[], deltas={bid: 3}, orders=[], lines=[], timeline=[]
        )
        repo.change_allocated(session, {bid: -3})
    assert balances(engine, "SKU-A") == {("DEFAULT", ""): (3, 0)}


def test_allocated_never_goes_below_zero(app, client, engine):
    receive(client, "SKU-A", 3)
    bid = _balance_id(engine, "SKU-A")
    database = app.extensions["stockmirror"].db

    with pytest.raises(repo.OversellRefused), database.write() as session:
        repo.change_allocated(session, {bid: -1})
