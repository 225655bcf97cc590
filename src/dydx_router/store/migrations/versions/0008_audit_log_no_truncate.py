"""the audit log refuses TRUNCATE too

Migration 0004's row trigger refuses UPDATE and DELETE, but PostgreSQL fires no row trigger on
``TRUNCATE``: the service's own connection, which often is the tables' owner, could still empty
the log in one statement. A statement trigger ``BEFORE TRUNCATE`` refuses it, whoever connects
(``insufficient_privilege``, as for UPDATE and DELETE). The application's own role is also
refused them by privilege: ``dydx-router migrate grant-app-role`` (``store/app_role.py``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The function of 0004 raises with TG_OP, which is 'TRUNCATE' here.
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
