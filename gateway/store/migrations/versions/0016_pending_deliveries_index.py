"""an index of each person's pending deliveries

A claim checks that the delivery heads its recipient's queue and that nothing of the
recipient's is in flight: two nodes, or a look a moment old, must not put two of a person's
messages with the provider at once. `ix_deliveries_recipient` holds the person's whole
history; `ix_deliveries_pending` holds only what is still to send, keyed by when its attempt
is due, so the check reads the person's queue and nothing else. A delivery leaves it when
sent or failed.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'PENDING'")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["channel_id", "recipient", "next_attempt_at"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
