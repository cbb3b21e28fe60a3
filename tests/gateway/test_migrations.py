"""The migrations build exactly the schema the models describe, on each database, and bring
the data stored before them to what the gateway now keeps."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel, col, select

import gateway.store.models
import gateway.store.webhook_models  # noqa: F401
from gateway.clock import now
from gateway.domain.participants import resolve_contact, resolve_conversation
from gateway.store import migrate
from gateway.store.database import create_db_engine
from gateway.store.models import ContactRow, ConversationRow


def test_a_migrated_database_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_a_database_whose_url_holds_a_percent_sign_is_migrated(tmp_path: Path) -> None:
    """An escaped `@` (`%40`, as in a PostgreSQL password or a folder `shop@prod`) stopped
    `migrate` with "invalid interpolation syntax"."""
    folder = tmp_path / "shop@prod"
    folder.mkdir()
    engine = create_db_engine(f"sqlite:///{folder}/inbox.db")
    assert "%40" in engine.url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() is not None
    finally:
        engine.dispose()


#: merges one after another, more than a lookup follows (32 hops, its guard against a loop)
CHAIN = 40


def test_ids_of_chains_of_merges_stored_before_the_upgrade_answer_as_their_live_end(
    database_url: str,
) -> None:
    """A database merged in long chains (as merges left them before) is brought to one hop:
    each old id answers as the live contact and conversation at its chain's end; a loop of
    merges, which has no live end, is left as it is."""
    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "0016")
        stamp = now()
        contacts = [f"contact-{n:02d}" for n in range(CHAIN)]
        conversations = [f"conversation-{n:02d}" for n in range(CHAIN)]
        with Session(engine) as session:
            for n, (contact_id, conversation_id) in enumerate(
                zip(contacts, conversations, strict=True)
            ):
                following = n + 1 < CHAIN
                session.add(
                    ContactRow(
                        id=contact_id,
                        display_name=f"Ann {n}",
                        merged_into=contacts[n + 1] if following else None,
                        created_at=stamp,
                    )
                )
                session.add(
                    ConversationRow(
                        id=conversation_id,
                        participant_kind="contactId",
                        participant_id=contact_id,
                        merged_into=conversations[n + 1] if following else None,
                        created_at=stamp,
                        last_activity_at=stamp,
                    )
                )
            session.add(
                ContactRow(id="loop-a", display_name="A", merged_into="loop-b", created_at=stamp)
            )
            session.add(
                ContactRow(id="loop-b", display_name="B", merged_into="loop-a", created_at=stamp)
            )
            session.commit()

        migrate.upgrade(engine)

        with Session(engine) as session:
            for contact_id in contacts:
                contact = resolve_contact(session, contact_id)
                assert contact is not None and contact.id == contacts[-1]
            for conversation_id in conversations:
                conversation = resolve_conversation(session, conversation_id)
                assert conversation is not None and conversation.id == conversations[-1]
            loop = {
                c.id: c.merged_into
                for c in session.exec(
                    select(ContactRow).where(col(ContactRow.id).in_(["loop-a", "loop-b"]))
                )
            }
            assert loop == {"loop-a": "loop-b", "loop-b": "loop-a"}
    finally:
        engine.dispose()
