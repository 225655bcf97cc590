"""key scopes and an append-only audit log

- ``ix_orders_api_key_id_created_at_id``: a key without ``orders:all`` lists only the orders it
  placed, newest first; without this index that listing would walk every other key's orders.
  Orders stored before this revision may carry no key (``api_key_id`` NULL): they are visible only
  to ``orders:all`` keys and unrestricted admins (docs/security.md).
- ``audit_log`` refuses UPDATE and DELETE in the database itself (a trigger), whoever connects.
  Revoking UPDATE, DELETE and TRUNCATE from the application's role: ``dydx-router migrate
  grant-app-role`` (``store/app_role.py``, docs/security.md, "Audit log").

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_api_key_id_created_at_id",
        "orders",
        ["api_key_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index("ix_orders_api_key_id_created_at_id", table_name="orders")
