"""The schema as SQLAlchemy Core metadata: the source of truth for Alembic migrations.

Queries on the hot path are plain SQL over asyncpg (``store/orders.py``); this module only
describes the tables, so that migrations and documentation have one place to look.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

# Deterministic constraint names, so migrations can drop what they created (Alembic docs,
# "The Importance of Naming Constraints").
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Chain integers: uint64 quantums/subticks fit NUMERIC(20,0); uint32 client ids fit BIGINT.
ChainInt = sa.Numeric(20, 0)
NOW = sa.text("now()")

# client_id source: one sequence shared by every replica, so ids never collide across restarts
# (nautilus_trader PR #3557: ids collided after restarts). It cycles within uint32.
client_id_seq = sa.Sequence(
    "order_client_id_seq", metadata=metadata, start=1, minvalue=1, maxvalue=2**32 - 1, cycle=True
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # sha256 of the key: keys are 256-bit random, so a fast hash is safe and lookup stays O(1).
    sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("key_prefix", sa.Text, nullable=False),
    sa.Column("scopes", pg.ARRAY(sa.Text), nullable=False),
    # NULL: every subaccount; otherwise the allow-list.
    sa.Column("subaccounts", pg.ARRAY(sa.Integer), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
)

# Per-key agent limits (migration 0006, domain/agent_limits.py): NULL is no limit.
api_key_limits = sa.Table(
    "api_key_limits",
    metadata,
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
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_by", pg.UUID(as_uuid=True), nullable=True),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("api_key_id", pg.UUID(as_uuid=True), sa.ForeignKey("api_keys.id"), nullable=True),
    sa.Column("client_order_id", sa.Text, nullable=True),
    sa.Column("idempotency_key", sa.Text, nullable=True),
    # Hash of the canonical request body: same key + different body is a 409.
    sa.Column("request_fingerprint", sa.Text, nullable=True),
    sa.Column("market", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("time_in_force", sa.Text, nullable=False),
    sa.Column("reduce_only", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("post_only", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("size", sa.Numeric, nullable=False),
    sa.Column("price", sa.Numeric, nullable=True),
    sa.Column("trigger_price", sa.Numeric, nullable=True),
    sa.Column("slippage_bps", sa.Integer, nullable=True),
    sa.Column("quantums", ChainInt, nullable=False),
    sa.Column("subticks", ChainInt, nullable=False),
    sa.Column("trigger_subticks", ChainInt, nullable=True),
    sa.Column("client_id", sa.BigInteger, nullable=False),
    sa.Column("order_flags", sa.Integer, nullable=False),
    sa.Column("clob_pair_id", sa.Integer, nullable=False),
    sa.Column("good_til_block", sa.BigInteger, nullable=True),
    sa.Column("good_til_block_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("subaccount_number", sa.Integer, nullable=False),
    sa.Column("indexer_order_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("filled_size", sa.Numeric, nullable=False, server_default="0"),
    sa.Column("average_fill_price", sa.Numeric, nullable=True),
    sa.Column("tx_hash", sa.Text, nullable=True),
    # The exact signed bytes: an UNKNOWN order is only ever re-broadcast identically.
    sa.Column("signed_tx", sa.LargeBinary, nullable=True),
    sa.Column("error_codespace", sa.Text, nullable=True),
    sa.Column("error_code", sa.Integer, nullable=True),
    sa.Column("error_log", sa.Text, nullable=True),
    # The caller's one-line reasons (an AI agent's "why", migration 0006).
    sa.Column("placement_reason", sa.Text, nullable=True),
    sa.Column("cancel_reason", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.UniqueConstraint("address", "subaccount_number", "client_id", "order_flags", "clob_pair_id"),
    sa.CheckConstraint("client_id >= 0 AND client_id <= 4294967295", name="client_id_uint32"),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name="side"),
    sa.CheckConstraint("size > 0", name="size_positive"),
    sa.CheckConstraint("filled_size >= 0 AND filled_size <= size", name="filled_within_size"),
)

# History, newest first, with optional filters on market / status / side.
sa.Index("ix_orders_created_at_id", orders.c.created_at.desc(), orders.c.id.desc())
sa.Index(
    "ix_orders_market_created_at_id",
    orders.c.market,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)
sa.Index(
    "ix_orders_status_created_at_id",
    orders.c.status,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)
# The reconciler and status sync scan only non-final orders: a small partial index.
sa.Index(
    "ix_orders_open",
    orders.c.status,
    postgresql_where=orders.c.status.notin_(["FILLED", "CANCELED", "EXPIRED", "REJECTED"]),
)
# One order per (API key, idempotency key). NULLS NOT DISTINCT (PostgreSQL 15+) so that keys used
# without an API key (internal callers) collide too; orders without a key are not constrained.
sa.Index(
    "uq_orders_api_key_id_idempotency_key",
    orders.c.api_key_id,
    orders.c.idempotency_key,
    unique=True,
    postgresql_nulls_not_distinct=True,
    postgresql_where=orders.c.idempotency_key.isnot(None),
)
sa.Index("ix_orders_indexer_order_id", orders.c.indexer_order_id)
# A key without ``orders:all`` lists only its own orders (migration 0004).
sa.Index(
    "ix_orders_api_key_id_created_at_id",
    orders.c.api_key_id,
    orders.c.created_at.desc(),
    orders.c.id.desc(),
)
# Only rows that carry a caller's id: every status update writes a new row version, and an
# index over a mostly-NULL column cost an entry per version for nothing (migration 0003).
sa.Index(
    "ix_orders_client_order_id",
    orders.c.client_order_id,
    postgresql_where=orders.c.client_order_id.isnot(None),
)

order_status_history = sa.Table(
    "order_status_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "order_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("orders.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("from_status", sa.Text, nullable=True),
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("chain_height", sa.BigInteger, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)
sa.Index(
    "ix_order_status_history_order_id_id",
    order_status_history.c.order_id,
    order_status_history.c.id,
)

# --- security and pre-trade risk (migration 0002) -----------------------------------------------

# One row per scope: "*" holds the global limits, a market ticker that market's overrides. NULL is
# "no limit" globally and "inherit the global limit" for a market (domain/risk.py).
risk_limits = sa.Table(
    "risk_limits",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("max_order_size", sa.Numeric, nullable=True),
    sa.Column("max_order_notional", sa.Numeric, nullable=True),
    sa.Column("max_position_notional", sa.Numeric, nullable=True),
    sa.Column("max_open_orders", sa.Integer, nullable=True),
    sa.Column("price_band_bps", sa.Integer, nullable=True),
    sa.Column("max_slippage_bps", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_by", pg.UUID(as_uuid=True), nullable=True),
    sa.CheckConstraint(
        "max_order_size > 0 AND max_order_notional > 0 AND max_position_notional > 0 "
        "AND max_open_orders >= 0 AND price_band_bps > 0 AND max_slippage_bps > 0",
        name="limits_positive",
    ),
)

# The kill switch: exactly one row (id = 1), read by every replica.
trading_state = sa.Table(
    "trading_state",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_by", pg.UUID(as_uuid=True), nullable=True),
    sa.CheckConstraint("id = 1", name="single_row"),
    sa.CheckConstraint("state IN ('ACTIVE', 'REDUCE_ONLY', 'HALTED')", name="state"),
)

# Every admin action (HTTP or CLI), append-only.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    # The API key that acted (NULL: the command line on the host).
    sa.Column("actor_key_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=True),
    sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
)
sa.Index("ix_audit_log_at", audit_log.c.at.desc())

# --- events and fills (migration 0005, docs/events.md) ------------------------------------------

# Written only by triggers (on order_status_history, fills and trading_state), so that every
# status write has its event in the same transaction. ``seq`` orders inserts; ``id`` (the SSE
# id) is given to committed rows by the sequencer (store/events.py), gap-free and increasing.
events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("id", sa.BigInteger, nullable=True),
    sa.Column("kind", sa.Text, nullable=False),
    # The order_status_history row of an order event.
    sa.Column("source_id", sa.BigInteger, nullable=True),
    sa.Column("order_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("api_key_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("subaccount_number", sa.Integer, nullable=True),
    sa.Column("market", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("payload", pg.JSONB, nullable=False),
    sa.CheckConstraint("kind IN ('order', 'fill', 'trading_state')", name="kind"),
)
sa.Index("uq_events_id", events.c.id, unique=True)
sa.Index("ix_events_unsequenced", events.c.seq, postgresql_where=events.c.id.is_(None))
sa.Index("ix_events_at", events.c.at)

# The indexer's fills of our orders, keyed by the indexer's fill id (written at most once).
fills = sa.Table(
    "fills",
    metadata,
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
    # NULL when the source (the websocket's fill message) does not carry it.
    sa.Column("fee", sa.Numeric, nullable=True),
    sa.Column("liquidity", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at_height", sa.BigInteger, nullable=False),
    sa.Column("subaccount_number", sa.Integer, nullable=False),
)
sa.Index("ix_fills_created_at_id", fills.c.created_at.desc(), fills.c.id.desc())
sa.Index("ix_fills_order_id", fills.c.order_id)

# --- several replicas on one database (migration 0007, docs/scaling.md) -------------------------

# Named leases with a fencing token (``token`` grows each time the lease changes hands); expiry
# is judged by the database's clock.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=True),
    sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

# The account sequence of an address in ``account_sequence`` mode: its row lock is held while one
# stateful tx is signed and broadcast; ``next_sequence`` is handed to the next holder.
sequence_leases = sa.Table(
    "sequence_leases",
    metadata,
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("holder", sa.Text, nullable=True),
    sa.Column("next_sequence", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

# Token buckets shared by the replicas (API rate limits per key and route class).
rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

# The chain's block-rate counts of an address, shared by the replicas (service/throttle.py).
chain_rate_counts = sa.Table(
    "chain_rate_counts",
    metadata,
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("height", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)
