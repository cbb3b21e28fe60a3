"""Queries that run inside the group commit read the index that bounds them, on each
database: a query that reads a whole channel or table there holds up every write."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Select

from channels import DeliveryStatus
from gateway.domain.delivery_status import (
    movable_by_any_watermark,
    sent_up_to,
)
from gateway.domain.silent_visitors import silent_candidates
from gateway.events.retention import prunable
from gateway.outbound.claim import _CLAIMABLE
from gateway.store import migrate
from gateway.store.database import create_db_engine


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    engine = create_db_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _plan(
    connection: Connection, statement: Select[Any], values: dict[str, Any] | None = None
) -> str:
    """The plan of `statement`, with `values` for the parameters it leaves unbound."""
    expanded = statement.compile(connection).construct_expanded_state(values)
    if connection.dialect.name == "postgresql":
        # a table this small is read whole unless told otherwise; the index must be usable
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {expanded.statement}", expanded.parameters)
    else:
        ordered = tuple(expanded.positional_parameters)
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {expanded.statement}", ordered)
    return "\n".join(str(row[-1]) for row in rows)


def test_the_silent_visitors_sweep_reads_its_partial_index(connection: Connection) -> None:
    plan = _plan(connection, silent_candidates(datetime(2026, 1, 1, tzinfo=UTC), 100))
    assert "ix_conversations_silent" in plan, plan


def test_a_read_receipt_reads_its_conversation_not_the_channel(connection: Connection) -> None:
    """A visitor's read receipt starts from the conversation's messages; the channel's index
    of deliveries would read every delivery the channel ever made, at each receipt."""
    plan = _plan(connection, sent_up_to("conversation-1", "chat", 40))
    # SQLite names a table's unique constraints' indexes itself: read the columns instead
    by_conversation = ("uq_message_sequence", "(conversation_id=? AND sequence<?)")
    assert any(index in plan for index in by_conversation), plan


@pytest.mark.parametrize("status", [DeliveryStatus.DELIVERED, DeliveryStatus.READ])
def test_watermarks_read_the_deliveries_they_can_move(
    connection: Connection, status: DeliveryStatus
) -> None:
    """A watermark (or those of several people, read together) reads the index of unsettled
    deliveries person by person: the index by recipient alone holds their whole history,
    read again at every watermark."""
    values = {
        "channel_id": "messenger",
        "recipients": ["psid-1", "psid-2", "psid-3"],
        "watermark": datetime(2026, 1, 1, tzinfo=UTC),
    }
    plan = _plan(connection, movable_by_any_watermark(status), values)
    assert "ix_deliveries_unsettled" in plan, plan
    if connection.dialect.name == "sqlite":
        assert "status=?" in plan, plan


def test_pruning_the_outbox_reads_the_index_of_event_ids(connection: Connection) -> None:
    """The events old enough to go are found by their ids, which carry their time; by `seq`
    alone, each run would read every event kept, months of them."""
    plan = _plan(connection, prunable(datetime(2026, 1, 1, tzinfo=UTC), 1_000_000, ["crm"], 2000))
    # the unique constraint's index: named by each database itself
    assert any(index in plan for index in ("sqlite_autoindex_events_1", "events_id_key")), plan


def test_a_claim_reads_the_persons_queue_not_their_history(connection: Connection) -> None:
    """A claim checks the recipient's queue (nothing in flight, nothing due before the
    delivery) from the index of pending deliveries: the index by recipient holds the
    person's whole history, and the index of due deliveries everybody's backlog."""
    values = {"b_ids": ["message-1"], "b_now": datetime(2026, 1, 1, tzinfo=UTC)}
    plan = _plan(connection, _CLAIMABLE, values)
    # the two checks read the table as `other` (PostgreSQL names the second `other_1`)
    read = re.compile(r"on deliveries other(_1)?\b|SEARCH other ")
    reads = [line for line in plan.splitlines() if read.search(line)]
    assert len(reads) == 2, plan
    assert all("ix_deliveries_pending" in line for line in reads), plan


def test_a_claim_reads_its_deliveries_by_their_ids(connection: Connection) -> None:
    """A claim is given the ids of the deliveries to take: by the index of due deliveries it
    would read the whole backlog at every claim."""
    values = {"b_ids": ["message-1", "message-2"], "b_now": datetime(2026, 1, 1, tzinfo=UTC)}
    plan = _plan(connection, _CLAIMABLE, values)
    # the primary key's index: named by each database itself
    by_id = ("sqlite_autoindex_deliveries_1 (message_id=?)", "on deliveries_pkey")
    assert any(index in plan for index in by_id), plan
