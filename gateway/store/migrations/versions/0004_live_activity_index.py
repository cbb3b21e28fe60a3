"""index live conversations by latest activity, for the API's conversation listing

Both SQLite and PostgreSQL then read a page of `merged_into IS NULL ORDER BY merged_into,
last_activity_at, id` straight from this index, first page and cursor pages alike, instead of
reading every live conversation and sorting. `ix_conversations_activity` stays: the inbox
page still orders by (last_activity_at, id) alone, which PostgreSQL can only serve from it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_live_activity",
        "conversations",
        ["merged_into", "last_activity_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_live_activity", table_name="conversations")
