"""order, fill and trading-state events (GET /v1/events) and the fills the router learns

- ``events``: an append-only log written by triggers, so that every path that writes a status
  (one transition, the grouped compare-and-set writes, the batch writers), a fill or the trading
  state writes its event in the same transaction, whatever Python code does the write.
  A row is born without a public ``id`` (``seq`` is only an insertion number: two transactions
  may commit their seqs out of order). The sequencer (``store/events.py``) gives committed rows
  their ``id`` under an advisory lock, in ``seq`` order, as max(id) + 1, 2, ..., so ids become
  visible as a gap-free, increasing prefix: a reader resuming after id N misses nothing.
- ``fills``: the indexer's fills of our orders (keyed by the indexer's fill id), written by the
  status stream when it learns them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Wakes the event hubs (store/notify.py: CHANNEL, TOPIC_EVENTS); identical payloads of one
# transaction are delivered once.
_NOTIFY = "PERFORM pg_notify('dydx_router_controls', 'events');"

_ORDER_EVENT = f"""
CREATE FUNCTION events_on_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An AFTER ROW trigger sees every change of its statement, including the orders row that
    -- a data-modifying CTE updated next to this history row (PostgreSQL docs, "Visibility of
    -- Data Changes").
    INSERT INTO events (kind, source_id, order_id, api_key_id, subaccount_number, market, at,
                        payload)
    SELECT 'order', NEW.id, o.id, o.api_key_id, o.subaccount_number, o.market, NEW.at,
           jsonb_build_object(
               'order_id', o.id::text, 'client_order_id', o.client_order_id,
               'market', o.market, 'side', o.side, 'status', NEW.to_status,
               'filled_size', o.filled_size::text,
               'average_fill_price', o.average_fill_price::text,
               'subaccount_number', o.subaccount_number, 'reason', NEW.reason)
    FROM orders o WHERE o.id = NEW.order_id;
    {_NOTIFY}
    RETURN NULL;
END
$$
"""

_FILL_EVENT = f"""
CREATE FUNCTION events_on_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, order_id, api_key_id, subaccount_number, market, at, payload)
    SELECT 'fill', o.id, o.api_key_id, o.subaccount_number, NEW.market, NEW.created_at,
           jsonb_build_object(
               'order_id', o.id::text, 'market', NEW.market, 'side', NEW.side,
               'price', NEW.price::text, 'size', NEW.size::text, 'fee', NEW.fee::text,
               'liquidity', NEW.liquidity)
    FROM orders o WHERE o.id = NEW.order_id;
    {_NOTIFY}
    RETURN NULL;
END
$$
"""

_STATE_EVENT = f"""
CREATE FUNCTION events_on_trading_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, at, payload)
    VALUES ('trading_state', NEW.updated_at,
            jsonb_build_object('state', NEW.state, 'reason', NEW.reason));
    {_NOTIFY}
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("id", sa.BigInteger, nullable=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source_id", sa.BigInteger, nullable=True),
        sa.Column("order_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("api_key_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("subaccount_number", sa.Integer, nullable=True),
        sa.Column("market", sa.Text, nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.CheckConstraint("kind IN ('order', 'fill', 'trading_state')", name="kind"),
    )
    op.create_index("uq_events_id", "events", ["id"], unique=True)
    # The sequencer's work list: small, only rows still waiting for their id.
    op.create_index(
        "ix_events_unsequenced", "events", ["seq"], postgresql_where=sa.text("id IS NULL")
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_table(
        "fills",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "order_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("orders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("market", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("price", sa.Numeric, nullable=False),
        sa.Column("size", sa.Numeric, nullable=False),
        sa.Column("fee", sa.Numeric, nullable=True),
        sa.Column("liquidity", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at_height", sa.BigInteger, nullable=False),
        sa.Column("subaccount_number", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_fills_created_at_id",
        "fills",
        [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
    )
    op.create_index("ix_fills_order_id", "fills", ["order_id"])
    op.execute(_ORDER_EVENT)
    op.execute(_FILL_EVENT)
    op.execute(_STATE_EVENT)
    op.execute(
        "CREATE TRIGGER events_on_status AFTER INSERT ON order_status_history "
        "FOR EACH ROW EXECUTE FUNCTION events_on_status()"
    )
    op.execute(
        "CREATE TRIGGER events_on_fill AFTER INSERT ON fills "
        "FOR EACH ROW EXECUTE FUNCTION events_on_fill()"
    )
    op.execute(
        "CREATE TRIGGER events_on_trading_state AFTER UPDATE ON trading_state "
        "FOR EACH ROW EXECUTE FUNCTION events_on_trading_state()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER events_on_trading_state ON trading_state")
    op.execute("DROP TRIGGER events_on_fill ON fills")
    op.execute("DROP TRIGGER events_on_status ON order_status_history")
    op.execute("DROP FUNCTION events_on_trading_state()")
    op.execute("DROP FUNCTION events_on_fill()")
    op.execute("DROP FUNCTION events_on_status()")
    op.drop_table("fills")
    op.drop_table("events")
