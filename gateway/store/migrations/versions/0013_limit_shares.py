"""a row of `limit_uses` counts several uses: a node's share of a busy key

On PostgreSQL a node takes a share of what a busy limit has left and spends it in memory,
instead of a row and a locked count for every use; `uses` is how many one row counts (1 for
every row written before).

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("limit_uses") as batch:
        batch.add_column(sa.Column("uses", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("limit_uses") as batch:
        batch.drop_column("uses")
