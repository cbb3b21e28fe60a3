"""on PostgreSQL, every statement appending outbox events NOTIFYs the other nodes

A trigger on `events` calls pg_notify('inbox_events', <the highest event number appended>)
in the transaction that appends them, so the notification is delivered when, and only if,
that transaction commits. Each node LISTENs on that channel and reads the outbox when woken.
SQLite needs nothing: one process owns the file.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# the channel name is gateway.events.wakeups.CHANNEL (a migration never imports the code)
FUNCTION = """
CREATE OR REPLACE FUNCTION inbox_events_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('inbox_events', (SELECT coalesce(max(seq), 0)::text FROM appended));
    RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE TRIGGER events_appended AFTER INSERT ON events
REFERENCING NEW TABLE AS appended
FOR EACH STATEMENT EXECUTE FUNCTION inbox_events_appended()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS events_appended ON events")
    op.execute("DROP FUNCTION IF EXISTS inbox_events_appended()")
