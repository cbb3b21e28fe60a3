"""index conversations to find silent visitors; tables for limits shared by every node

`ix_conversations_silent`: anonymous web chat visitors who opened a session and never wrote
are forgotten after a day; this index finds them without reading every conversation.
`limit_uses` and `limit_holds`: on PostgreSQL the limits (`Limits`) are counted in the
database, so that they hold across processes and nodes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_silent",
        "conversations",
        ["participant_kind", "last_sequence", "created_at"],
        unique=False,
    )
    op.create_table(
        "limit_uses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bucket", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_limit_uses_key", "limit_uses", ["bucket", "key", "used_at"])
    op.create_table(
        "limit_holds",
        sa.Column("bucket", sa.String(length=128), primary_key=True),
        sa.Column("key", sa.String(length=255), primary_key=True),
        sa.Column("holder", sa.String(length=64), primary_key=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("renewed_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_limit_holds_renewed_at", "limit_holds", ["renewed_at"])


def downgrade() -> None:
    op.drop_index("ix_limit_holds_renewed_at", table_name="limit_holds")
    op.drop_table("limit_holds")
    op.drop_index("ix_limit_uses_key", table_name="limit_uses")
    op.drop_table("limit_uses")
    op.drop_index("ix_conversations_silent", table_name="conversations")
