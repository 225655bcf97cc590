"""security: risk limits, trading state (kill switch), audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_limits",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("max_order_size", sa.Numeric(), nullable=True),
        sa.Column("max_order_notional", sa.Numeric(), nullable=True),
        sa.Column("max_position_notional", sa.Numeric(), nullable=True),
        sa.Column("max_open_orders", sa.Integer(), nullable=True),
        sa.Column("price_band_bps", sa.Integer(), nullable=True),
        sa.Column("max_slippage_bps", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "max_order_size > 0 AND max_order_notional > 0 AND max_position_notional > 0 "
            "AND max_open_orders >= 0 AND price_band_bps > 0 AND max_slippage_bps > 0",
            name=op.f("ck_risk_limits_limits_positive"),
        ),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_risk_limits")),
    )
    op.create_table(
        "trading_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_trading_state_single_row")),
        sa.CheckConstraint(
            "state IN ('ACTIVE', 'REDUCE_ONLY', 'HALTED')", name=op.f("ck_trading_state_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_state")),
    )
    # A fresh install trades; the row always exists so readers never see "no state".
    op.execute("INSERT INTO trading_state (id, state, reason) VALUES (1, 'ACTIVE', 'installed')")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor_key_id", sa.UUID(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", [sa.text("at DESC")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("trading_state")
    op.drop_table("risk_limits")
