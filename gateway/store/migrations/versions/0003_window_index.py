"""index conversations by the participant's last message, for the window sweep

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_last_inbound", "conversations", ["last_inbound_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_last_inbound", table_name="conversations")
