"""an index of the deliveries a watermark can still move

A Messenger delivery or read watermark moves a person's deliveries accepted before it. It
read them from `ix_deliveries_recipient`, which holds the person's whole history, and looked
up each row's status: a watermark cost more the longer the person had been writing to the
page. `ix_deliveries_unsettled` holds only the sent and delivered ones, keyed by status, so
a watermark reads what it can move. A delivery enters it when sent and leaves it when read
or failed.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UNSETTLED = sa.text("status IN ('SENT', 'DELIVERED')")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_unsettled",
        "deliveries",
        ["channel_id", "recipient", "status", "accepted_at"],
        unique=False,
        sqlite_where=UNSETTLED,
        postgresql_where=UNSETTLED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_unsettled", table_name="deliveries")
