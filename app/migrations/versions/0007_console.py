"""console: users, sessions, login throttle, drift notes and facts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Console users (only argon2 hashes of passwords), server-side sessions (the cookie carries
a token whose SHA-256 is the key), the login throttle, the append-only audit trail of notes
people add to drift rows (a trigger refuses UPDATE and DELETE, as on stock_movements), the
money facts of drift rows (a rebuildable read model), and an index for the console's
order list (oldest first, keyset-paginated).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_console_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "reconciliation_drift_notes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("drift_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["drift_id"],
            ["reconciliation_drift.id"],
            name=op.f("fk_reconciliation_drift_notes_drift_id_reconciliation_drift"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_drift_notes_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_drift_notes")),
    )
    op.create_index(
        "ix_reconciliation_drift_notes_drift", "reconciliation_drift_notes", ["drift_id", "id"]
    )
    op.create_index(
        "ix_reconciliation_drift_notes_run", "reconciliation_drift_notes", ["run_id", "drift_id"]
    )
    op.create_table(
        "reconciliation_drift_facts",
        sa.Column("drift_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("starshipit_qty", sa.BigInteger(), nullable=True),
        sa.Column("ledger_qty", sa.BigInteger(), nullable=True),
        sa.Column("difference", sa.BigInteger(), nullable=True),
        sa.Column("unit_value", sa.Numeric(14, 4), nullable=True),
        sa.Column("value", sa.Numeric(18, 4), nullable=True),
        sa.Column("shipped_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["drift_id"],
            ["reconciliation_drift.id"],
            name=op.f("fk_reconciliation_drift_facts_drift_id_reconciliation_drift"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_drift_facts_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("drift_id", name=op.f("pk_reconciliation_drift_facts")),
    )
    op.create_index(
        "ix_reconciliation_drift_facts_run", "reconciliation_drift_facts", ["run_id", "drift_id"]
    )
    op.create_index("ix_orders_account_date_id", "orders", ["account_id", "order_date", "id"])
    _append_only_notes()


def _append_only_notes() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION reconciliation_drift_notes_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'reconciliation_drift_notes is append-only: % refused', TG_OP
                    USING ERRCODE = 'raise_exception';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER reconciliation_drift_notes_append_only BEFORE UPDATE OR DELETE "
            "ON reconciliation_drift_notes FOR EACH ROW "
            "EXECUTE FUNCTION reconciliation_drift_notes_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER reconciliation_drift_notes_no_{verb.lower()} BEFORE {verb} "
                "ON reconciliation_drift_notes BEGIN SELECT RAISE(ABORT, "
                f"'reconciliation_drift_notes is append-only: {verb} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP TRIGGER IF EXISTS reconciliation_drift_notes_append_only "
            "ON reconciliation_drift_notes"
        )
        op.execute("DROP FUNCTION IF EXISTS reconciliation_drift_notes_append_only()")
    op.drop_index("ix_orders_account_date_id", table_name="orders")
    op.drop_index("ix_reconciliation_drift_facts_run", table_name="reconciliation_drift_facts")
    op.drop_table("reconciliation_drift_facts")
    op.drop_index("ix_reconciliation_drift_notes_run", table_name="reconciliation_drift_notes")
    op.drop_index("ix_reconciliation_drift_notes_drift", table_name="reconciliation_drift_notes")
    op.drop_table("reconciliation_drift_notes")
    op.drop_table("login_throttle")
    op.drop_index("ix_console_sessions_user_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("users")
