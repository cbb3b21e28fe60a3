"""The sweep of silent visitors reads the partial index that holds only conversations
without a message, on each database (a message stored no longer moves that index)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection

from gateway.domain.silent_visitors import silent_candidates
from gateway.store import migrate
from gateway.store.database import create_db_engine


def _plan(connection: Connection) -> str:
    statement = silent_candidates(datetime(2026, 1, 1, tzinfo=UTC), 100)
    compiled = statement.compile(connection)
    params = compiled.construct_params()
    if connection.dialect.name == "postgresql":
        # a table this small is read whole unless told otherwise; the index must be usable
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", params)
    else:
        ordered = tuple(params[name] for name in compiled.positiontup or ())
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", ordered)
    return "\n".join(str(row[-1]) for row in rows)


def test_the_silent_visitors_sweep_reads_its_partial_index(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            plan = _plan(connection)
    finally:
        engine.dispose()
    assert "ix_conversations_silent" in plan, plan
