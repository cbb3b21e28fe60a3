"""every merged-away contact and conversation points at the live one it answers as

A contact merged into one that was merged on in turn pointed at the one in the middle, and a
lookup follows at most 32 such hops (its guard against a loop): after longer chains of merges
the oldest ids answered as a contact or conversation merged away, showed none of its messages
and refused sends. Merges now point everything merged into a source at the target; this
brings the chains already stored to the same one hop. A loop of merges (two contacts merged
into each other through two nodes at the same moment, which merges now prevent) has no live
end to point at and is left as it is.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: rows re-pointed per statement, so that a database of many merges is not one huge round trip
CHUNK = 1000


def upgrade() -> None:
    for name in ("contacts", "conversations"):
        _point_at_live_ends(name)


def downgrade() -> None:
    # Nothing to undo: an id pointing straight at its live record answers as it did.
    pass


def _point_at_live_ends(name: str) -> None:
    table = sa.table(name, sa.column("id", sa.String), sa.column("merged_into", sa.String))
    connection = op.get_bind()
    merged: dict[str, str] = {
        row_id: into
        for row_id, into in connection.execute(
            sa.select(table.c.id, table.c.merged_into).where(table.c.merged_into.is_not(None))
        )
    }
    ends = _live_ends(merged)
    moves = [
        {"row_id": row_id, "end": end}
        for row_id, end in ends.items()
        if end is not None and end != merged[row_id]
    ]
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(merged_into=sa.bindparam("end"))
    )
    for start in range(0, len(moves), CHUNK):
        connection.execute(statement, moves[start : start + CHUNK])


def _live_ends(merged: dict[str, str]) -> dict[str, str | None]:
    """For each merged-away id, the live id at the end of its chain; None when the chain
    runs into a loop."""
    ends: dict[str, str | None] = {}
    for first in merged:
        chain: list[str] = []
        on_chain: set[str] = set()
        current = first
        while current in merged and current not in ends and current not in on_chain:
            chain.append(current)
            on_chain.add(current)
            current = merged[current]
        if current in ends:
            end = ends[current]
        elif current in on_chain:
            end = None  # a loop: nothing on it is live
        else:
            end = current  # not merged: the live end
        for row_id in chain:
            ends[row_id] = end
    return ends
