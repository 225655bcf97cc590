"""what several router replicas on one database share: leases and rate buckets

- ``leases``: named, time-bound leases (the status stream, the subaccount follower and the
  reconciler of an address run on the replica holding ``workers:<address>``). ``token`` grows by
  one each time the lease changes hands: a fencing token. Expiry is judged by the database's
  clock, so the replicas' clocks do not matter.
- ``sequence_leases``: one row per address signing in ``account_sequence`` mode. A replica holds
  the row lock (``SELECT ... FOR UPDATE``) while it signs and broadcasts one stateful tx, and
  writes back the next sequence; a replica that dies mid-send loses its connection and with it
  the lock at once.
- ``rate_buckets``: token buckets shared by every replica (per API key and route class, and the
  chain's block-rate counts per address, bucket and height in ``chain_rate_counts``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=True),
        sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "sequence_leases",
        sa.Column("address", sa.Text, primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("holder", sa.Text, nullable=True),
        sa.Column("next_sequence", sa.BigInteger, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "chain_rate_counts",
        sa.Column("address", sa.Text, primary_key=True),
        sa.Column("bucket", sa.Text, primary_key=True),
        sa.Column("height", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chain_rate_counts")
    op.drop_table("rate_buckets")
    op.drop_table("sequence_leases")
    op.drop_table("leases")
