"""Big tables in minutes: copies of rows the gateway wrote itself, inserted with direct SQL.

A million messages cannot go through the API in a bench's time. So the gateway first stores a
few messages of each kind through its public surface (webhooks, sendMessage, status
callbacks); their rows (message, delivery, parts, outbox events) are read back and copied with
new ids, sequences, provider ids and times: every column, JSON shape and index entry the
gateway would have written, whatever the schema holds when the bench runs. The copies go in
with the driver's executemany on SQLite and COPY on PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    Table,
    select,
    text,
    update,
)
from sqlmodel import SQLModel

import gateway.store.models  # noqa: F401  (registers the tables)
from gateway.clock import new_id

#: rows per batch
CHUNK = 5_000

Row = dict[str, Any]


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def new_provider_id(old: str, n: int) -> str:
    """A provider id with the prefix of `old` (`SM`, `MM`…), unique for `n`."""
    prefix = old[:2] if old[:2].isalpha() else "id"
    return f"{prefix}{uuid.uuid5(uuid.NAMESPACE_OID, f'{old}/{n}').hex}"


def _stored(column: Column[Any]) -> bool:
    """Whether a copy carries this column (an integer key is the database's to number)."""
    return not (column.primary_key and isinstance(column.type, Integer))


class Writer:
    """Inserts many rows of a table at once, bypassing the ORM and SQLAlchemy's statements.

    Values are given as the bench copies them: JSON columns already serialised (text), times
    as datetimes; they reach the driver as the gateway's own engine would store them.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    def _converters(self, name: str) -> list[tuple[str, Callable[[Any], Any] | None]]:
        converters: list[tuple[str, Callable[[Any], Any] | None]] = []
        for column in table(name).columns:
            if not _stored(column):
                continue
            convert = None
            if self.sqlite and isinstance(column.type, DateTime | Boolean):
                convert = column.type.bind_processor(self.engine.dialect)
            converters.append((column.name, convert))
        return converters

    def insert(self, name: str, rows: Iterable[Row]) -> None:
        converters = self._converters(name)
        names = [n for n, _ in converters]
        values = [
            tuple(
                row[n] if convert is None or row[n] is None else convert(row[n])
                for n, convert in converters
            )
            for row in rows
        ]
        if not values:
            return
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            listed = ", ".join(names)
            if self.sqlite:
                # the gateway's engine leaves transactions to SQLAlchemy: open one for the batch
                marks = ", ".join("?" for _ in names)
                # a bench's fill need not survive a power cut; the file is the same either way
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("BEGIN")
                cursor.executemany(f"INSERT INTO {name} ({listed}) VALUES ({marks})", values)
                cursor.execute("COMMIT")
            else:
                with cursor.copy(f"COPY {name} ({listed}) FROM STDIN") as copy:
                    for value in values:
                        copy.write_row(value)
            raw.commit()
        finally:
            raw.close()


def _serialised(name: str, row: Row) -> Row:
    """A row read through SQLAlchemy, with its JSON columns back as text (json.dumps, as
    SQLAlchemy writes them)."""
    out = dict(row)
    for column in table(name).columns:
        if isinstance(column.type, JSON):
            out[column.name] = json.dumps(row[column.name])
    return out


def _read(db: Any, name: str, *conditions: Any) -> list[Row]:
    query = select(table(name))
    for condition in conditions:
        query = query.where(condition)
    return [_serialised(name, dict(r._mapping)) for r in db.execute(query)]


def _replace(text_value: str | None, names: Mapping[str, str]) -> str | None:
    if text_value is None:
        return None
    for old, new in names.items():
        text_value = text_value.replace(old, new)
    return text_value


# -- one conversation's messages -------------------------------------------------------------


@dataclass
class MessageTemplate:
    """A stored message and everything stored with it (JSON columns as text)."""

    message: Row
    delivery: Row | None
    parts: list[Row]
    events: list[Row]

    def provider_ids(self) -> list[str]:
        found = [self.message["provider_message_id"]] if self.message["provider_message_id"] else []
        found += [p["provider_message_id"] for p in self.parts]
        if self.delivery is not None:
            found += json.loads(self.delivery["provider_message_ids"]) or []
        return sorted(set(found))


def read_messages(engine: Engine, conversation_id: str) -> list[MessageTemplate]:
    """Every message of a conversation with its delivery, parts and events, by sequence."""
    messages = table("messages")
    with engine.connect() as db:
        rows = sorted(
            _read(db, "messages", messages.c.conversation_id == conversation_id),
            key=lambda r: int(r["sequence"]),
        )
        ids = [r["id"] for r in rows]
        deliveries = {
            r["message_id"]: r
            for r in _read(db, "deliveries", table("deliveries").c.message_id.in_(ids))
        }
        parts: dict[str, list[Row]] = {}
        for r in _read(db, "delivery_parts", table("delivery_parts").c.message_id.in_(ids)):
            parts.setdefault(r["message_id"], []).append(r)
        events: dict[str, list[Row]] = {}
        for r in _read(db, "events", table("events").c.entity_id.in_(ids)):
            events.setdefault(r["entity_id"], []).append(r)
    return [
        MessageTemplate(r, deliveries.get(r["id"]), parts.get(r["id"], []), events.get(r["id"], []))
        for r in rows
    ]


@dataclass
class Copies:
    """Rows to insert, by table."""

    rows: dict[str, list[Row]]

    @classmethod
    def empty(cls, *names: str) -> Copies:
        return cls({name: [] for name in names})

    def write(self, writer: Writer) -> None:
        for name, rows in self.rows.items():
            writer.insert(name, rows)


def _moved(row: Row, shift: timedelta) -> Row:
    return {k: (v + shift if isinstance(v, datetime) else v) for k, v in row.items()}


def copy_message(
    template: MessageTemplate,
    sequence: int,
    when: datetime,
    n: int,
    into: Copies,
    names: Mapping[str, str] | None = None,
) -> None:
    """Copy `n` of a message (with its delivery, parts and events) at `sequence` and `when`;
    `names` renames further ids (the conversation, the contact) in every column."""
    message_id = new_id()
    swap = {template.message["id"]: message_id, **(names or {})}
    swap.update({old: new_provider_id(old, n) for old in template.provider_ids()})
    shift = when - template.message["created_at"]
    old_sequence = f'"sequence": "{template.message["sequence"]}"'
    new_sequence = f'"sequence": "{sequence}"'

    def renamed(row: Row) -> Row:
        return {k: (swap.get(v, v) if isinstance(v, str) else v) for k, v in row.items()}

    message = renamed(_moved(template.message, shift))
    message["sequence"] = sequence
    into.rows["messages"].append(message)
    if template.delivery is not None:
        delivery = renamed(_moved(template.delivery, shift))
        delivery["provider_message_ids"] = _replace(delivery["provider_message_ids"], swap)
        into.rows["deliveries"].append(delivery)
    into.rows["delivery_parts"] += [renamed(part) for part in template.parts]
    for event in template.events:
        copied = renamed(_moved(event, shift))
        body = _replace(event["body"], swap) or "null"
        copied.update(id=new_id(), body=body.replace(old_sequence, new_sequence))
        into.rows["events"].append(copied)


MESSAGE_TABLES = ("messages", "deliveries", "delivery_parts", "events")


def grow_conversation(engine: Engine, conversation_id: str, total: int) -> int:
    """Copy the conversation's messages, in turn, until it holds `total`; answers how many
    were added. The copies come after the originals, a second apart."""
    templates = read_messages(engine, conversation_id)
    if not templates:
        raise ValueError(f"conversation {conversation_id} has no messages to copy")
    writer = Writer(engine)
    first = len(templates) + 1
    last_time = templates[-1].message["created_at"]
    when = last_time
    for start in range(first, total + 1, CHUNK):
        copies = Copies.empty(*MESSAGE_TABLES)
        for sequence in range(start, min(start + CHUNK, total + 1)):
            template = templates[(sequence - first) % len(templates)]
            when = last_time + timedelta(seconds=sequence - first + 1)
            copy_message(template, sequence, when, sequence, copies)
        copies.write(writer)
    conversations = table("conversations")
    with engine.begin() as db:
        db.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(last_sequence=max(total, len(templates)), last_activity_at=when)
        )
    return max(0, total - len(templates))


# -- many conversations ----------------------------------------------------------------------


def add_conversations(
    engine: Engine,
    conversation_id: str,
    count: int,
    address: Callable[[int], str] | None = None,
) -> None:
    """`count` copies of a one-participant conversation (its contact or anonymous visitor,
    identities, conversation and messages), each with a participant and address of its own,
    older than the original. `address(n)` names copy n's address (its deliveries go to it);
    by default the original's with `-n` after it."""
    identities_table, contacts = table("identities"), table("contacts")
    with engine.connect() as db:
        conversation = _read(db, "conversations", table("conversations").c.id == conversation_id)[0]
        participant_id = conversation["participant_id"]
        # an anonymous visitor has no contact row: its identities name it as their visitor
        contact_rows = _read(db, "contacts", contacts.c.id == participant_id)
        owner = "contact_id" if contact_rows else "visitor_id"
        identities = _read(db, "identities", identities_table.c[owner] == participant_id)
    templates = read_messages(engine, conversation_id)
    writer = Writer(engine)
    for start in range(0, count, CHUNK):
        copies = Copies.empty("contacts", "identities", "conversations", *MESSAGE_TABLES)
        for n in range(start, min(start + CHUNK, count)):
            shift = -timedelta(seconds=n + 1)
            names = {conversation_id: new_id(), participant_id: new_id()}
            addresses = {
                identity["address"]: address(n) if address else f"{identity['address']}-{n}"
                for identity in identities
            }
            if address:
                names.update(addresses)
            for contact in contact_rows:
                copies.rows["contacts"].append(
                    {**_moved(contact, shift), "id": names[participant_id]}
                )
            for identity in identities:
                copies.rows["identities"].append(
                    {
                        **_moved(identity, shift),
                        owner: names[participant_id],
                        "address": addresses[identity["address"]],
                    }
                )
            copies.rows["conversations"].append(
                {
                    **_moved(conversation, shift),
                    "id": names[conversation_id],
                    "participant_id": names[participant_id],
                }
            )
            for template in templates:
                when = template.message["created_at"] + shift
                sequence = int(template.message["sequence"])
                copy_message(template, sequence, when, 10**9 + n, copies, names)
        copies.write(writer)


# -- size on disk ----------------------------------------------------------------------------


def database_bytes(engine: Engine) -> int:
    """The database's size: SQLite's file (its WAL checkpointed first), or PostgreSQL's."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as db:
            db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = db.exec_driver_sql("PRAGMA page_count").scalar() or 0
            size = db.exec_driver_sql("PRAGMA page_size").scalar() or 0
        return int(pages) * int(size)
    with engine.connect() as db:
        return int(db.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)


def analyze(engine: Engine) -> None:
    """What PostgreSQL's autovacuum does soon after a load; without it the planner guesses."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.exec_driver_sql("ANALYZE")
