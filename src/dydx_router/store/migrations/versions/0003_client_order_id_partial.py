"""orders: the client_order_id index only over rows that carry one

Every status change of an order writes a new row version, and ``status`` is indexed, so no update
is HOT: each version gets an entry in every index of ``orders``. Most orders carry no
``client_order_id``; a partial index spends nothing on them and still serves look-ups by it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_orders_client_order_id", table_name="orders")
    op.create_index(
        "ix_orders_client_order_id",
        "orders",
        ["client_order_id"],
        unique=False,
        postgresql_where=sa.text("client_order_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_client_order_id", table_name="orders")
    op.create_index("ix_orders_client_order_id", "orders", ["client_order_id"], unique=False)
