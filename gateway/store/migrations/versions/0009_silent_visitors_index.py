"""index conversations by participant kind, message count and age, to find silent visitors

Anonymous web chat visitors who opened a session and never wrote are forgotten after a day;
this index lets the gateway find them without reading every conversation.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

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


def downgrade() -> None:
    op.drop_index("ix_conversations_silent", table_name="conversations")
