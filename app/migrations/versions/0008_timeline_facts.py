"""order timeline: entries as a kind and facts, worded when read

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Timeline entries the order mirror writes keep their facts (JSON) instead of a sentence;
app.orders.domain.timeline_text words them when they are read. Existing entries whose
sentence the facts word back identically (movements, status changes, created / changed /
shipped summaries, deletions, stale events, notes) are converted; any other entry (for
example what allocation and returns log as text) keeps its detail. Downgrade words the
facts back into detail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.orders.domain import DELETED_TEXT, stale_facts, timeline_text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FACTS = sa.JSON(none_as_null=True)
BATCH = 1000

_MOVEMENT = re.compile(r"(?P<sku>.+) (?P<qty>[+-]\d+) at (?P<loc>.+) \(movement (?P<id>\d+)\)")
_STATUS = re.compile(r"(?P<old>\S+) → (?P<new>\S+)")
_LINES = re.compile(r"(?P<type>order_\w+): (?:no lines|\d+ lines? \((?P<parts>.*)\))")
_PART = re.compile(r"(?P<item>.+?) ×(?P<qty>-?\d+)(?:, |$)")
_STALE = re.compile(
    r"(?P<type>order_\w+) (?P<id>.+?) ignored: older than"
    r"(?: the current state| (?P<newer>.+) \((?P<at>[^()]+)\))"
)


def _line_facts(match: re.Match[str]) -> dict[str, Any] | None:
    lines = [
        {"item": item["item"], "quantity": int(item["qty"])}
        for item in _PART.finditer(match["parts"] or "")
    ]  # wording them back (facts_of) checks that the parts were read whole
    return {"event_type": match["type"], "lines": lines}


def _guess(kind: str, detail: str) -> dict[str, Any] | None:
    """Facts that may word `detail` (checked by wording them back)."""
    if kind == "note":
        return {"text": detail}
    if kind == "deleted":
        return {} if detail == DELETED_TEXT else None
    if kind == "status" and (m := _STATUS.fullmatch(detail)):
        return {"from": m["old"], "to": m["new"]}
    if kind == "stale" and (m := _STALE.fullmatch(detail)):
        return stale_facts(m["type"], m["id"], m["newer"], m["at"])
    if kind in ("created", "changed", "shipped") and (m := _LINES.fullmatch(detail)):
        return _line_facts(m)
    if detail.startswith(f"{kind} ") and (m := _MOVEMENT.fullmatch(detail[len(kind) + 1 :])):
        return {
            "sku": m["sku"],
            "quantity": int(m["qty"]),
            "location": m["loc"],
            "movement": int(m["id"]),
        }
    return None


def facts_of(kind: str, detail: str) -> dict[str, Any] | None:
    """Facts that word back to exactly `detail`, else None (the entry stays text)."""
    facts = _guess(kind, detail)
    if facts is None or timeline_text(kind, facts) != detail:
        return None
    return facts


def _timeline() -> sa.TableClause:
    return sa.table(
        "order_timeline",
        sa.column("id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("detail", sa.Text),
        sa.column("facts", FACTS),
    )


def _batches(query: sa.Select) -> Iterator[Sequence[Any]]:
    conn = op.get_bind()
    last = 0
    id_col = query.selected_columns[0]
    while rows := conn.execute(query.where(id_col > last).order_by(id_col).limit(BATCH)).all():
        yield rows
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facts", FACTS, nullable=True))
        batch_op.alter_column("detail", existing_type=sa.Text(), nullable=True)
    t = _timeline()
    set_facts = (
        sa.update(t)
        .where(t.c.id == sa.bindparam("pk"))
        .values(facts=sa.bindparam("f"), detail=None)
    )
    for rows in _batches(sa.select(t.c.id, t.c.kind, t.c.detail)):
        converted = [
            {"pk": pk, "f": facts}
            for pk, kind, detail in rows
            if (facts := facts_of(kind, detail)) is not None
        ]
        if converted:
            op.get_bind().execute(set_facts, converted)


def downgrade() -> None:
    t = _timeline()
    set_detail = sa.update(t).where(t.c.id == sa.bindparam("pk")).values(detail=sa.bindparam("d"))
    query = sa.select(t.c.id, t.c.kind, t.c.facts, t.c.detail).where(t.c.facts.is_not(None))
    for rows in _batches(query):
        worded = [
            {"pk": pk, "d": timeline_text(kind, facts, detail)} for pk, kind, facts, detail in rows
        ]
        op.get_bind().execute(set_detail, worded)
    op.get_bind().execute(sa.update(t).where(t.c.detail.is_(None)).values(detail=""))
    with op.batch_alter_table("order_timeline", schema=None) as batch_op:
        batch_op.alter_column("detail", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("facts")
