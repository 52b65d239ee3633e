"""inventory: receipts, stocktakes, returns (issue 3)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "expected_receipts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("supplier", sa.String(length=200), nullable=True),
        sa.Column("expected_date", sa.Date(), nullable=True),
        sa.Column("location", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location"], ["locations.code"], name=op.f("fk_expected_receipts_location_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expected_receipts")),
        sa.UniqueConstraint("reference", name=op.f("uq_expected_receipts_reference")),
    )
    op.create_table(
        "stocktakes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("location", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_movement_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["location"], ["locations.code"], name=op.f("fk_stocktakes_location_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stocktakes")),
    )
    op.create_table(
        "expected_receipt_lines",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("receipt_id", _ID, nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_expected_receipt_lines_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["expected_receipts.id"],
            name=op.f("fk_expected_receipt_lines_receipt_id_expected_receipts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_expected_receipt_lines_sku_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expected_receipt_lines")),
        sa.UniqueConstraint(
            "receipt_id", "sku", name=op.f("uq_expected_receipt_lines_receipt_id_sku")
        ),
    )
    op.create_index(
        "ix_expected_receipt_lines_sku", "expected_receipt_lines", ["sku"], unique=False
    )
    op.create_table(
        "stocktake_lines",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("stocktake_id", _ID, nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("batch", sa.String(length=100), nullable=False),
        sa.Column("book", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("movement_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_stocktake_lines_sku_products")
        ),
        sa.ForeignKeyConstraint(
            ["stocktake_id"],
            ["stocktakes.id"],
            name=op.f("fk_stocktake_lines_stocktake_id_stocktakes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stocktake_lines")),
        sa.UniqueConstraint(
            "stocktake_id", "sku", "batch", name=op.f("uq_stocktake_lines_stocktake_id_sku_batch")
        ),
    )
    # Adding a nullable column keeps the table (and its append-only triggers) in place.
    op.add_column("stock_movements", sa.Column("bundle_sku", sa.String(length=50), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("stock_movements", "bundle_sku")
    else:
        # SQLite ≥ 3.35 drops a column in place (no table copy, triggers kept).
        op.execute("ALTER TABLE stock_movements DROP COLUMN bundle_sku")
    op.drop_table("stocktake_lines")
    op.drop_index("ix_expected_receipt_lines_sku", table_name="expected_receipt_lines")
    op.drop_table("expected_receipt_lines")
    op.drop_table("stocktakes")
    op.drop_table("expected_receipts")
