"""Migration 0008: timeline sentences become facts that word back the same, and back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url

from app.migrate import alembic_config, upgrade
from app.orders.domain import timeline_text
from tests.conftest import PG_URL

AT = datetime(2026, 1, 1, tzinfo=UTC)
SENTENCES = [
    ("created", "order_created: 2 lines (SKU-A ×2, non-stock 'Gift, wrap' ×1)"),
    ("shipment", "shipment SKU-A -2 at DEFAULT (movement 7)"),
    ("shipment_reversal", "shipment_reversal SKU-A +2 at A-01 (movement 9)"),
    ("status", "PENDING → SHIPPED"),
    ("deleted", "order deleted in Starshipit"),
    ("stale", "order_changed ev 3 ignored: older than ev-4 (2026-01-01T00:00:00Z)"),
    ("stale", "order_shipped ev-5 ignored: older than the current state"),
    ("note", "shipped in Starshipit's API: counted as shipped in full"),
    ("changed", "order_changed: no lines"),
    ("shipped", "order_shipped: 1 line (SKU-B ×3)"),
]
TEXT_ONLY = [
    ("allocation", "allocated 2 of SKU-A"),
    ("return", "return R1: SKU-A ×1 restock"),
    ("status", "RELEASED → PENDING (allocation released)"),
]


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"sm_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _timeline(engine: sa.Engine, *, facts: bool = True) -> list[sa.Row]:
    columns = [sa.column("id"), sa.column("kind"), sa.column("detail")]
    if facts:
        columns.append(sa.column("facts", sa.JSON))
    table = sa.table("order_timeline", *columns)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


def test_upgrade_to_0008_keeps_the_wording_of_existing_timeline_entries_and_downgrade_restores_it(
    empty_url: str,
) -> None:
    upgrade(empty_url, "0007")
    engine = sa.create_engine(empty_url)
    rows = SENTENCES + TEXT_ONLY
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO orders (account_id, order_id, status, allocation_status,"
                " created_at, updated_at) VALUES ('acc', 1, 'SHIPPED', 'UNALLOCATED', :at, :at)"
            ),
            {"at": AT},
        )
        conn.execute(
            sa.text(
                "INSERT INTO order_timeline (order_pk, at, kind, detail, event_id)"
                " VALUES (1, :at, :kind, :detail, 'ev')"
            ),
            [{"at": AT, "kind": kind, "detail": detail} for kind, detail in rows],
        )

    upgrade(empty_url, "0008")
    upgraded = _timeline(engine)
    assert [timeline_text(r.kind, r.facts, r.detail) for r in upgraded] == [d for _, d in rows]
    assert [r.facts is not None for r in upgraded] == [True] * len(SENTENCES) + [False] * len(
        TEXT_ONLY
    )
    assert all(r.detail is None for r in upgraded[: len(SENTENCES)])
    assert upgraded[1].facts == {
        "sku": "SKU-A",
        "quantity": -2,
        "location": "DEFAULT",
        "movement": 7,
    }
    assert upgraded[3].facts == {"from": "PENDING", "to": "SHIPPED"}

    command.downgrade(alembic_config(empty_url), "0007")
    assert [(r.kind, r.detail) for r in _timeline(engine, facts=False)] == rows
    engine.dispose()
