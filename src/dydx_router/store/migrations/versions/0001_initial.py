"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 05:30:29.952064
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # client_id source shared by every replica (see store/tables.py); cycles within uint32.
    op.execute("CREATE SEQUENCE order_client_id_seq START 1 MINVALUE 1 MAXVALUE 4294967295 CYCLE")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_prefix", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("subaccounts", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("client_order_id", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_fingerprint", sa.Text(), nullable=True),
        sa.Column("market", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("time_in_force", sa.Text(), nullable=False),
        sa.Column("reduce_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("post_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("size", sa.Numeric(), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=True),
        sa.Column("trigger_price", sa.Numeric(), nullable=True),
        sa.Column("slippage_bps", sa.Integer(), nullable=True),
        sa.Column("quantums", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("subticks", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("trigger_subticks", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("order_flags", sa.Integer(), nullable=False),
        sa.Column("clob_pair_id", sa.Integer(), nullable=False),
        sa.Column("good_til_block", sa.BigInteger(), nullable=True),
        sa.Column("good_til_block_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("subaccount_number", sa.Integer(), nullable=False),
        sa.Column("indexer_order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("filled_size", sa.Numeric(), server_default="0", nullable=False),
        sa.Column("average_fill_price", sa.Numeric(), nullable=True),
        sa.Column("tx_hash", sa.Text(), nullable=True),
        sa.Column("signed_tx", sa.LargeBinary(), nullable=True),
        sa.Column("error_codespace", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_log", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(
            "client_id >= 0 AND client_id <= 4294967295", name=op.f("ck_orders_client_id_uint32")
        ),
        sa.CheckConstraint(
            "filled_size >= 0 AND filled_size <= size", name=op.f("ck_orders_filled_within_size")
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_orders_size_positive")),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_orders_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "address",
            "subaccount_number",
            "client_id",
            "order_flags",
            "clob_pair_id",
            name=op.f("uq_orders_address_subaccount_number_client_id_order_flags_clob_pair_id"),
        ),
    )
    op.create_index(
        "uq_orders_api_key_id_idempotency_key",
        "orders",
        ["api_key_id", "idempotency_key"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index("ix_orders_client_order_id", "orders", ["client_order_id"], unique=False)
    op.create_index(
        "ix_orders_created_at_id",
        "orders",
        [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index("ix_orders_indexer_order_id", "orders", ["indexer_order_id"], unique=False)
    op.create_index(
        "ix_orders_market_created_at_id",
        "orders",
        ["market", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_orders_open",
        "orders",
        ["status"],
        unique=False,
        postgresql_where=sa.text("(status NOT IN ('FILLED', 'CANCELED', 'EXPIRED', 'REJECTED'))"),
    )
    op.create_index(
        "ix_orders_status_created_at_id",
        "orders",
        ["status", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "order_status_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("chain_height", sa.BigInteger(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_status_history_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_status_history")),
    )
    op.create_index(
        "ix_order_status_history_order_id_id",
        "order_status_history",
        ["order_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_order_status_history_order_id_id", table_name="order_status_history")
    op.drop_table("order_status_history")
    op.drop_index("ix_orders_status_created_at_id", table_name="orders")
    op.drop_index(
        "ix_orders_open",
        table_name="orders",
        postgresql_where=sa.text("(status NOT IN ('FILLED', 'CANCELED', 'EXPIRED', 'REJECTED'))"),
    )
    op.drop_index("ix_orders_market_created_at_id", table_name="orders")
    op.drop_index("ix_orders_indexer_order_id", table_name="orders")
    op.drop_index("ix_orders_created_at_id", table_name="orders")
    op.drop_index("uq_orders_api_key_id_idempotency_key", table_name="orders")
    op.drop_index("ix_orders_client_order_id", table_name="orders")
    op.drop_table("orders")
    op.drop_table("api_keys")
    op.execute("DROP SEQUENCE order_client_id_seq")
