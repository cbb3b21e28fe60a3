"""fewer indexes moved by every stored message

Every index a message's commit touches costs a page written to the log (and again to the
database at the checkpoint), and an index keyed by a random value costs a page per row.
- `ix_events_conversation_id`: no query reads the outbox by conversation (it is read by
  `seq`), yet every event wrote a page of it.
- `ix_conversations_activity`: the API and the inbox page both list from
  `ix_conversations_live_activity` (migration 0004 kept it for the inbox page, which has
  ordered by `merged_into` too since); every message moved its conversation's entry.
- `ix_conversations_silent` holds only conversations without a message (`last_sequence = 0`),
  the ones the sweep of silent visitors looks for, so a message no longer moves an entry of
  it: only a conversation's first message takes its entry out.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

SILENT = sa.text("last_sequence = 0")


def upgrade() -> None:
    op.drop_index("ix_events_conversation_id", table_name="events")
    op.drop_index("ix_conversations_activity", table_name="conversations")
    op.drop_index("ix_conversations_silent", table_name="conversations")
    op.create_index(
        "ix_conversations_silent",
        "conversations",
        ["participant_kind", "created_at"],
        unique=False,
        sqlite_where=SILENT,
        postgresql_where=SILENT,
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_silent", table_name="conversations")
    op.create_index(
        "ix_conversations_silent",
        "conversations",
        ["participant_kind", "last_sequence", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_conversations_activity", "conversations", ["last_activity_at", "id"], unique=False
    )
    op.create_index("ix_events_conversation_id", "events", ["conversation_id"], unique=False)
