"""record each noted closed messaging window, so its note is written once by any number of sweeps

The window sweep used to look for an earlier note by its text, which two daemons sweeping at
the same moment could both miss. Each window is now a row keyed by the participant's message
that opened it. Windows already noted (by their text, within the last 30 days) are recorded
here, so the upgrade writes no note twice.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: how far back notes written before this revision are looked for
BACKFILL = timedelta(days=30)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "closed_windows",
        sa.Column(
            "inbound_message_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
        ),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("inbound_message_id"),
    )
    _record_windows_already_noted()


def downgrade() -> None:
    op.drop_table("closed_windows")


def _record_windows_already_noted() -> None:
    """A closed-window note after the participant's last message: record its window."""
    conversations = sa.table(
        "conversations",
        sa.column("id", sa.String),
        sa.column("merged_into", sa.String),
        sa.column("last_inbound_at", WHEN),
        sa.column("last_inbound_channel_id", sa.String),
    )
    messages = sa.table(
        "messages",
        sa.column("id", sa.String),
        sa.column("conversation_id", sa.String),
        sa.column("sequence", sa.Integer),
        sa.column("direction", sa.String),
        sa.column("source_channel_id", sa.String),
        sa.column("sender_kind", sa.String),
        sa.column("sender_id", sa.String),
        sa.column("created_at", WHEN),
        sa.column("content", sa.JSON),
    )
    closed = sa.table(
        "closed_windows",
        sa.column("inbound_message_id", sa.String),
        sa.column("channel_id", sa.String),
        sa.column("noted_at", WHEN),
    )
    note = messages.alias("note")
    noted = (
        sa.select(sa.func.max(note.c.created_at))
        .where(
            note.c.conversation_id == conversations.c.id,
            note.c.sender_kind == "appId",
            note.c.sender_id == "inbox-gateway",
            note.c.created_at > conversations.c.last_inbound_at,
            sa.cast(note.c.content, sa.String).like("%messaging window on % has closed%"),
        )
        .scalar_subquery()
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            conversations.c.id, conversations.c.last_inbound_channel_id, noted.label("noted_at")
        ).where(
            conversations.c.merged_into.is_(None),
            conversations.c.last_inbound_at > datetime.now(UTC) - BACKFILL,
            noted.is_not(None),
        )
    ).all()
    for conversation_id, channel_id, noted_at in rows:
        opener = connection.execute(
            sa.select(messages.c.id)
            .where(
                messages.c.conversation_id == conversation_id,
                messages.c.direction == "PARTICIPANT_TO_BUSINESS",
                messages.c.source_channel_id == channel_id,
            )
            .order_by(messages.c.sequence.desc())
            .limit(1)
        ).scalar()
        if opener is not None:
            connection.execute(
                sa.insert(closed).values(
                    inbound_message_id=opener, channel_id=channel_id, noted_at=noted_at
                )
            )
