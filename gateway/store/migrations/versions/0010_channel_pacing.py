"""each paced channel's next free send slot, shared by the nodes on one PostgreSQL

Every node used to pace a channel on its own, so N nodes sent up to N x `rate_per_second`.
A node now reserves each send's slot from this row (one UPDATE ... RETURNING), which keeps the
pace for the gateway as a whole. SQLite (one process per file) keeps pacing in memory.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_pacing",
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id"),
    )


def downgrade() -> None:
    op.drop_table("channel_pacing")
