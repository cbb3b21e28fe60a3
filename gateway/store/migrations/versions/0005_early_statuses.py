"""keep provider statuses that arrive before the send's answer is recorded

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "provider_message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        ),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("error_message", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_early_statuses_received_at", "early_statuses", ["received_at"], unique=False
    )
    op.create_index(
        "ix_early_statuses_provider_id",
        "early_statuses",
        ["channel_id", "provider_message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_early_statuses_provider_id", table_name="early_statuses")
    op.drop_index("ix_early_statuses_received_at", table_name="early_statuses")
    op.drop_table("early_statuses")
