"""A message written while another node merges its conversation is kept where the merge put
the rest: in the conversation merged into, numbered after what it took along."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from channels import Direction, MessageContent, Participant
from gateway.domain.messages import append_message, merge_conversations
from gateway.domain.participants import conversation_for, resolve_conversation
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import ConversationRow, MessageRow
from tests.support.databases import fresh_postgres


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database, which several nodes' transactions share."""
    with fresh_postgres(postgres_url) as url:
        engine = create_db_engine(url)
        migrate.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def customer(session: Session, address: str, texts: list[str]) -> str:
    """A customer's SMS conversation holding their messages `texts`; its id."""
    conversation, _, _ = conversation_for(session, "sms", Participant(address, address))
    for text_ in texts:
        write(session, conversation, text_)
    return conversation.id


def write(session: Session, conversation: ConversationRow, text_: str) -> MessageRow:
    return append_message(
        session,
        conversation,
        content=MessageContent.of_text(text_).with_preview().wire(),
        sender=(conversation.participant_kind, conversation.participant_id),
        direction=Direction.PARTICIPANT_TO_BUSINESS,
        source_channel_id="sms",
    )


def merge(engine: Engine, target_id: str, old_id: str) -> None:
    with Session(engine) as session:
        target = session.get(ConversationRow, target_id)
        old = session.get(ConversationRow, old_id)
        assert target is not None and old is not None
        merge_conversations(session, target, [old])
        session.commit()


def listed(engine: Engine, conversation_id: str) -> list[tuple[int, str]]:
    """(sequence, text) of each message the conversation id lists, in order."""
    with Session(engine) as session:
        conversation = resolve_conversation(session, conversation_id)
        assert conversation is not None
        rows = session.exec(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation.id)
            .order_by(col(MessageRow.sequence))
        )
        return [(m.sequence, m.content["basic"]["items"][0]["text"]) for m in rows]


def test_a_message_for_a_conversation_merged_meanwhile_lands_in_the_one_it_went_into(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        kept = customer(session, "+15550003001", ["k1"])
        gone = customer(session, "+15550003002", ["g1"])
        session.commit()
    with Session(engine) as node_b:
        # node B has read the conversation when node A merges it away
        conversation = resolve_conversation(node_b, gone)
        assert conversation is not None and conversation.id == gone
        merge(engine, kept, gone)
        message = write(node_b, conversation, "g2")
        node_b.commit()
        assert message.conversation_id == kept
    assert [t for _, t in listed(engine, gone)] == ["k1", "g1", "g2"]
    assert [s for s, _ in listed(engine, kept)] == [1, 2, 3]


def test_a_merge_waits_for_a_message_being_written_and_takes_it_along(engine: Engine) -> None:
    with Session(engine) as session:
        kept = customer(session, "+15550003003", ["k1"])
        gone = customer(session, "+15550003004", ["g1"])
        session.commit()
    with Session(engine) as node_b:
        conversation = node_b.get(ConversationRow, gone)
        assert conversation is not None
        write(node_b, conversation, "g2")
        merging = threading.Thread(target=merge, args=(engine, kept, gone))
        merging.start()
        wait_until_blocked(engine, merging)
        node_b.commit()
    merging.join(timeout=30)
    assert not merging.is_alive()
    assert [t for _, t in listed(engine, kept)] == ["k1", "g1", "g2"]
    with Session(engine) as session:
        after = session.get(ConversationRow, kept)
        assert after is not None
        write(session, after, "k2")
        session.commit()
    assert listed(engine, gone) == [(1, "k1"), (2, "g1"), (3, "g2"), (4, "k2")]


def wait_until_blocked(engine: Engine, merging: threading.Thread) -> None:
    """Wait until the merge waits for a lock the writing transaction holds (or has ended)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    while merging.is_alive():
        with engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        assert time.monotonic() < deadline, "the merge neither waited nor finished"
        time.sleep(0.01)
