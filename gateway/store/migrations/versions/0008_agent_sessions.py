"""agents' sessions kept in the database, so that logging out ends a session on every node

Sessions used to be signed cookies that stayed valid until they expired, even after the agent
logged out. Each login is now a row; the cookie carries a random token whose SHA-256 is the
row's key. Signed cookies issued before this revision are no longer accepted (agents log in
once more).

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("password_tag", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_sessions_username", "agent_sessions", ["username"], unique=False)
    op.create_index(
        "ix_agent_sessions_expires_at", "agent_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_agent_sessions_expires_at", table_name="agent_sessions")
    op.drop_index("ix_agent_sessions_username", table_name="agent_sessions")
    op.drop_table("agent_sessions")
