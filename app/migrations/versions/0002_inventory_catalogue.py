"""inventory catalogue: product tracking, bundles, batches, warehouses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sku"], ["products.sku"], name=op.f("fk_batches_sku_products")),
        sa.PrimaryKeyConstraint("sku", "code", name=op.f("pk_batches")),
    )
    op.create_table(
        "bundle_components",
        sa.Column("bundle_sku", sa.String(length=50), nullable=False),
        sa.Column("component_sku", sa.String(length=50), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_bundle_components_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["bundle_sku"], ["products.sku"], name=op.f("fk_bundle_components_bundle_sku_products")
        ),
        sa.ForeignKeyConstraint(
            ["component_sku"],
            ["products.sku"],
            name=op.f("fk_bundle_components_component_sku_products"),
        ),
        sa.PrimaryKeyConstraint("bundle_sku", "component_sku", name=op.f("pk_bundle_components")),
    )
    op.create_table(
        "pick_face_levels",
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("location", sa.String(length=50), nullable=False),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location"], ["locations.code"], name=op.f("fk_pick_face_levels_location_locations")
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_pick_face_levels_sku_products")
        ),
        sa.PrimaryKeyConstraint("sku", "location", name=op.f("pk_pick_face_levels")),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("warehouse", sa.String(length=50), server_default="MAIN", nullable=False)
        )
        batch_op.add_column(sa.Column("sequence", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("tracking", sa.String(length=10), server_default="none", nullable=False)
        )
        batch_op.add_column(sa.Column("strategy", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("bundle", sa.String(length=20), server_default="none", nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("bundle")
        batch_op.drop_column("strategy")
        batch_op.drop_column("tracking")
        batch_op.drop_column("name")

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_column("sequence")
        batch_op.drop_column("warehouse")

    op.drop_table("pick_face_levels")
    op.drop_table("bundle_components")
    op.drop_table("batches")
