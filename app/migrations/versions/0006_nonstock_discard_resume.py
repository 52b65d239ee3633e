"""non-stock lines, discarded events, resumable reconciliation runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

- `order_lines.sku` may be NULL: a non-stock line (custom or non-inventory item), which
  never moves stock. `orders.nonstock_shipped` holds the units of the order's non-stock
  lines that the newest applied `order_shipped` event says left (they count for
  SHIPPED / PARTIALLY_SHIPPED like stock units do).
- Inbox events can be discarded for good (status `discarded`, with who, when and why).
- Reconciliation runs keep their progress (the first unfinished page of each pass) and a
  lease the running process renews; at most one run per account is `running` (a run
  whose lease ran out is `interrupted` and can be resumed).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("sku", existing_type=sa.String(length=50), nullable=True)
    op.add_column(
        "orders",
        sa.Column("nonstock_shipped", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("inbox_events", sa.Column("discarded_at", sa.DateTime(timezone=True)))
    op.add_column("inbox_events", sa.Column("discarded_by", sa.String(length=200)))
    op.add_column("inbox_events", sa.Column("discard_reason", sa.Text()))
    op.add_column(
        "reconciliation_runs", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "reconciliation_runs", sa.Column("lease_owner", sa.String(length=64), nullable=True)
    )
    op.add_column("reconciliation_runs", sa.Column("progress", sa.JSON(), nullable=True))
    # Runs left `running` by processes of the previous release cannot be resumed (they
    # kept no progress): they are closed as interrupted before the one-running rule.
    op.execute("UPDATE reconciliation_runs SET status = 'interrupted' WHERE status = 'running'")
    op.create_index(
        "ux_reconciliation_runs_one_running",
        "reconciliation_runs",
        ["account_id"],
        unique=True,
        postgresql_where=RUNNING,
        sqlite_where=RUNNING,
    )


def downgrade() -> None:
    op.drop_index("ux_reconciliation_runs_one_running", table_name="reconciliation_runs")
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_column("progress")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("lease_until")
    with op.batch_alter_table("inbox_events", schema=None) as batch_op:
        batch_op.drop_column("discard_reason")
        batch_op.drop_column("discarded_by")
        batch_op.drop_column("discarded_at")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("nonstock_shipped")
    op.execute("DELETE FROM order_lines WHERE sku IS NULL")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("sku", existing_type=sa.String(length=50), nullable=False)
