"""The note that a messaging window closed is written once per window, whoever sweeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from channels import Capabilities, Direction, MessageContent, Participant
from gateway.clock import now
from gateway.domain.directory import ChannelInfo
from gateway.domain.messages import append_message, merge_conversations, system_note
from gateway.domain.participants import conversation_for
from gateway.domain.windows import forget_closed_windows, note_closed_windows
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import ClosedWindowRow, ConversationRow, MessageRow
from tests.support.databases import fresh_postgres

DIRECTORY = {
    "facebook": ChannelInfo(
        "facebook", "messenger", "FACEBOOK", Capabilities(messaging_window=timedelta(hours=24))
    )
}
CLOSED = "messaging window on facebook has closed"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database of either kind."""
    engine = create_db_engine(database_url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def customer_wrote(session: Session, address: str, hours_ago: float) -> ConversationRow:
    """A Messenger customer's message, `hours_ago` hours ago."""
    conversation, _, _ = conversation_for(session, "facebook", Participant(address, "Ada"))
    append_message(
        session,
        conversation,
        content=MessageContent.of_text("hello").with_preview().wire(),
        sender=(conversation.participant_kind, conversation.participant_id),
        direction=Direction.PARTICIPANT_TO_BUSINESS,
        source_channel_id="facebook",
        created_at=now() - timedelta(hours=hours_ago),
    )
    return conversation


def closed_notes(session: Session) -> list[MessageRow]:
    notes = session.exec(select(MessageRow).where(MessageRow.sender_id == "inbox-gateway"))
    return [n for n in notes if CLOSED in n.content["system"]["text"]]


def sweep(engine: Engine) -> int:
    with Session(engine) as session:
        noted = note_closed_windows(session, DIRECTORY)
        session.commit()
        return noted


def test_two_daemons_sweeping_at_the_same_moment_write_the_note_once(postgres_url: str) -> None:
    with fresh_postgres(postgres_url) as url:
        engine = create_db_engine(url)
        try:
            migrate.upgrade(engine)
            with Session(engine) as session:
                customer_wrote(session, "psid-1", hours_ago=25)
                session.commit()

            # The first sweep has written its note but not committed it when the second
            # sweep looks: the second must wait for it, not write a note of its own.
            second: list[int] = []
            with Session(engine) as first:
                assert note_closed_windows(first, DIRECTORY) == 1
                other = threading.Thread(target=lambda: second.append(sweep(engine)))
                other.start()
                wait_until_blocked(engine, other)
                first.commit()
            other.join(timeout=30)

            assert second == [0]
            with Session(engine) as session:
                assert len(closed_notes(session)) == 1
        finally:
            engine.dispose()


def wait_until_blocked(engine: Engine, sweeper: threading.Thread) -> None:
    """Wait until the sweeper's transaction waits for a lock the first one holds."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    while sweeper.is_alive():
        with engine.connect() as connection:
            if connection.execute(query).scalar():
                return
        assert time.monotonic() < deadline, "the second sweep neither waited nor finished"
        time.sleep(0.01)


def test_sweeping_again_writes_nothing_more(engine: Engine) -> None:
    with Session(engine) as session:
        customer_wrote(session, "psid-2", hours_ago=25)
        assert note_closed_windows(session, DIRECTORY) == 1
        session.commit()
    assert sweep(engine) == 0
    with Session(engine) as session:
        [note] = closed_notes(session)
        assert note.visibility == "BUSINESS"


def test_a_message_arriving_late_with_an_older_time_does_not_note_the_window_again(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        customer_wrote(session, "psid-9", hours_ago=25)
        assert note_closed_windows(session, DIRECTORY) == 1
        session.commit()
    with Session(engine) as session:
        customer_wrote(session, "psid-9", hours_ago=27)  # Meta delivers an older one late
        session.commit()
    assert sweep(engine) == 0
    with Session(engine) as session:
        assert len(closed_notes(session)) == 1


def test_a_failure_note_mentioning_the_window_is_not_taken_for_the_closed_note(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        conversation = customer_wrote(session, "psid-3", hours_ago=25)
        system_note(
            session,
            conversation,
            "Message could not be delivered on facebook: Outside the 24-hour messaging window",
            DIRECTORY,
        )
        session.commit()
    assert sweep(engine) == 1
    with Session(engine) as session:
        assert len(closed_notes(session)) == 1


def test_a_window_noted_before_a_merge_is_not_noted_again_after_it(engine: Engine) -> None:
    with Session(engine) as session:
        noted = customer_wrote(session, "psid-4", hours_ago=25)
        target = customer_wrote(session, "psid-5", hours_ago=40)
        assert note_closed_windows(session, DIRECTORY) == 1
        merge_conversations(session, target, [noted])
        target_id = target.id
        session.commit()
    assert sweep(engine) == 0
    with Session(engine) as session:
        [note] = closed_notes(session)
        assert note.conversation_id == target_id


def test_windows_noted_before_the_upgrade_are_not_noted_again(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
        with Session(engine) as session:
            conversation = customer_wrote(session, "psid-6", hours_ago=25)
            note = "The 24 h messaging window on facebook has closed: the customer must write"
            system_note(session, conversation, note, DIRECTORY)
            session.commit()
        migrate.upgrade(engine)
        assert sweep(engine) == 0
        with Session(engine) as session:
            assert len(closed_notes(session)) == 1
    finally:
        engine.dispose()


def test_windows_noted_more_than_a_week_ago_are_forgotten(engine: Engine) -> None:
    with Session(engine) as session:
        customer_wrote(session, "psid-7", hours_ago=25)
        customer_wrote(session, "psid-8", hours_ago=26)
        assert note_closed_windows(session, DIRECTORY) == 2
        old, recent = session.exec(select(ClosedWindowRow)).all()
        old.noted_at = now() - timedelta(days=8)
        kept = recent.inbound_message_id
        session.commit()
    with Session(engine) as session:
        assert forget_closed_windows(session) == 1
        session.commit()
        remembered = session.exec(select(ClosedWindowRow.inbound_message_id)).all()
        assert remembered == [kept]
