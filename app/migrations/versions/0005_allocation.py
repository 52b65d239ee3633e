"""allocations (issue 5)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Allocations, release batches and auto rules. A trigger on stock_balances is the
database's own backstop against oversell: an UPDATE that raises `allocated` above
`on_hand` is refused (on hand may still fall below allocated: that is OVERALLOCATED).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "allocation_rules",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("account_id", sa.String(length=100), nullable=True),
        sa.Column("platform", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("allow_partial", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_rules")),
    )
    op.create_table(
        "releases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("allow_partial", sa.Boolean(), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
    )
    op.create_table(
        "allocations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("order_pk", ID, nullable=False),
        sa.Column("release_id", ID, nullable=True),
        sa.Column("line_sku", sa.String(length=50), nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("per_unit", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=50), nullable=False),
        sa.Column("batch", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("consumed", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint("consumed >= 0", name=op.f("ck_allocations_consumed_not_negative")),
        sa.CheckConstraint(
            "remaining + consumed <= quantity", name=op.f("ck_allocations_within_quantity")
        ),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_allocations_remaining_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_pk"],
            ["orders.id"],
            name=op.f("fk_allocations_order_pk_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_allocations_release_id_releases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    op.create_index("ix_allocations_balance", "allocations", ["sku", "location", "batch"])
    op.create_index("ix_allocations_order_pk", "allocations", ["order_pk"])
    op.create_index("ix_allocations_release_id", "allocations", ["release_id"])
    _no_oversell_trigger()


def _no_oversell_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION stock_balances_no_oversell() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'oversell refused: % % % allocated % > on hand %',
                    NEW.sku, NEW.location, NEW.batch, NEW.allocated, NEW.on_hand
                    USING ERRCODE = 'check_violation';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER stock_balances_no_oversell BEFORE UPDATE OF allocated "
            "ON stock_balances FOR EACH ROW "
            "WHEN (NEW.allocated > OLD.allocated AND NEW.allocated > NEW.on_hand) "
            "EXECUTE FUNCTION stock_balances_no_oversell()"
        )
    else:
        op.execute(
            "CREATE TRIGGER stock_balances_no_oversell BEFORE UPDATE OF allocated "
            "ON stock_balances "
            "WHEN NEW.allocated > OLD.allocated AND NEW.allocated > NEW.on_hand BEGIN "
            "SELECT RAISE(ABORT, 'oversell refused: allocated > on hand'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS stock_balances_no_oversell ON stock_balances")
        op.execute("DROP FUNCTION IF EXISTS stock_balances_no_oversell()")
    else:
        op.execute("DROP TRIGGER IF EXISTS stock_balances_no_oversell")
    op.drop_index("ix_allocations_release_id", table_name="allocations")
    op.drop_index("ix_allocations_order_pk", table_name="allocations")
    op.drop_index("ix_allocations_balance", table_name="allocations")
    op.drop_table("allocations")
    op.drop_table("releases")
    op.drop_table("allocation_rules")
