"""per-key agent limits, and the reason a caller states for an order and for its cancel

- ``api_key_limits``: one row per API key that has agent limits (max notional per order and per
  UTC day, max open orders, allowed markets; a null field is no limit). Written by the admin
  routes and the CLI, which notify every replica in the same transaction (``store/notify.py``).
- ``orders.placement_reason`` / ``orders.cancel_reason``: the caller's one-line reason (an AI
  agent's, through MCP or the client), shown to operators with the order.
- The order event (``events_on_status``) carries both reasons, read from the order row at the
  time of the status change.
- A placement with a reason writes its ``audit_log`` entry (``order_placed``) from a trigger, in
  the placement's own transaction, whichever writer (one insert, the grouped insert) stored it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NOTIFY = "PERFORM pg_notify('dydx_router_controls', 'events');"


def _order_event(extra: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION events_on_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, source_id, order_id, api_key_id, subaccount_number, market, at,
                        payload)
    SELECT 'order', NEW.id, o.id, o.api_key_id, o.subaccount_number, o.market, NEW.at,
           jsonb_build_object(
               'order_id', o.id::text, 'client_order_id', o.client_order_id,
               'market', o.market, 'side', o.side, 'status', NEW.to_status,
               'filled_size', o.filled_size::text,
               'average_fill_price', o.average_fill_price::text,
               'subaccount_number', o.subaccount_number, 'reason', NEW.reason){extra}
    FROM orders o WHERE o.id = NEW.order_id;
    {_NOTIFY}
    RETURN NULL;
END
$$
"""


_WITH_REASONS = (
    " || jsonb_build_object('placement_reason', o.placement_reason, "
    "'cancel_reason', o.cancel_reason)"
)

_AUDIT_PLACEMENT = """
CREATE FUNCTION audit_order_placed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (actor_key_id, actor, action, target, details)
    VALUES (NEW.api_key_id,
            coalesce((SELECT name FROM api_keys WHERE id = NEW.api_key_id), 'router'),
            'order_placed', NEW.id::text,
            jsonb_build_object('reason', NEW.placement_reason, 'market', NEW.market,
                               'side', NEW.side, 'type', NEW.type, 'size', NEW.size::text,
                               'price', NEW.price::text, 'reduce_only', NEW.reduce_only,
                               'client_order_id', NEW.client_order_id));
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "api_key_limits",
        sa.Column(
            "api_key_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("max_order_notional", sa.Numeric, nullable=True),
        sa.Column("max_daily_notional", sa.Numeric, nullable=True),
        sa.Column("max_open_orders", sa.Integer, nullable=True),
        sa.Column("allowed_markets", pg.ARRAY(sa.Text), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", pg.UUID(as_uuid=True), nullable=True),
    )
    op.add_column("orders", sa.Column("placement_reason", sa.Text, nullable=True))
    op.add_column("orders", sa.Column("cancel_reason", sa.Text, nullable=True))
    op.execute(_order_event(_WITH_REASONS))
    op.execute(_AUDIT_PLACEMENT)
    op.execute(
        "CREATE TRIGGER audit_order_placed AFTER INSERT ON orders FOR EACH ROW "
        "WHEN (NEW.placement_reason IS NOT NULL) EXECUTE FUNCTION audit_order_placed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_order_placed ON orders")
    op.execute("DROP FUNCTION audit_order_placed()")
    op.execute(_order_event(""))
    op.drop_column("orders", "cancel_reason")
    op.drop_column("orders", "placement_reason")
    op.drop_table("api_key_limits")
