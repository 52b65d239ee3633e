"""Alembic is the only source of schema: one head, upgrade from empty, models match."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.migrate import alembic_config, head_revision
from app.models import metadata


def test_migrations_have_exactly_one_head():
    heads = ScriptDirectory.from_config(alembic_config("")).get_heads()
    assert len(heads) == 1, f"several heads: {heads}"


def test_upgrade_from_empty_reaches_head(database_url):
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert conn.execute(sa.text("SELECT code FROM locations")).scalars().all() == ["DEFAULT"]
    engine.dispose()


def test_models_match_the_migrations(database_url):
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


@pytest.mark.parametrize(
    "statement", ["UPDATE stock_movements SET quantity = 0", "DELETE FROM stock_movements"]
)
def test_stock_movements_refuse_update_and_delete(client, engine, statement):
    from tests.helpers import post_event, shipped_event

    post_event(client, shipped_event("e1", 1, [("SKU-A", 2, None)]))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT quantity FROM stock_movements")).scalar_one() == -2
