"""The tables: contacts, identities, conversations, messages, deliveries, the events outbox,
idempotency keys, numbered-choice menus, noted closed windows, agents' sessions and installation
secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from channels.text import LONGEST


def _when(index: bool = False, nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


#: the longest picture URL a contact keeps (a provider's profile may offer a longer one)
MAX_IMAGE_URL = 2048
#: the longest key a shared limit keeps; a longer one is counted under its digest
MAX_LIMIT_KEY = 255


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"

    id: str = Field(primary_key=True, max_length=40)
    display_name: str = Field(max_length=255)
    image_url: str | None = Field(default=None, max_length=MAX_IMAGE_URL)
    #: set when this contact was merged into another; its id then answers as that one
    merged_into: str | None = Field(default=None, max_length=40, index=True)
    created_at: datetime = _when()


class IdentityRow(SQLModel, table=True):
    """A participant's address on one channel; owned by a contact or an anonymous visitor."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel_id", "address", name="uq_identity_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: str = Field(max_length=64)
    address: str = Field(max_length=LONGEST["address"])
    contact_id: str | None = Field(default=None, max_length=40, index=True)
    visitor_id: str | None = Field(default=None, max_length=64, index=True)
    opted_out: bool = False
    created_at: datetime = _when()


#: a conversation that has no message yet: the rows `ix_conversations_silent` holds. Queries
#: say it in these words, not with a bound 0: a generic plan of PostgreSQL cannot match a
#: parameter to the index's condition (SQLite plans again for the bound value).
NO_MESSAGE_YET = text("last_sequence = 0")


class ConversationRow(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("participant_kind", "participant_id", name="uq_conversation_participant"),
        # The API's and the inbox page's listing of live conversations, newest activity
        # first (migration 0004).
        Index("ix_conversations_live_activity", "merged_into", "last_activity_at", "id"),
        Index("ix_conversations_last_inbound", "last_inbound_at"),
        # Anonymous visitors who never wrote, forgotten after a day (migration 0009). Only
        # conversations without a message are in it, so storing a message does not move it
        # (migration 0014).
        Index(
            "ix_conversations_silent",
            "participant_kind",
            "created_at",
            sqlite_where=NO_MESSAGE_YET,
            postgresql_where=NO_MESSAGE_YET,
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    #: contactId | anonymousVisitorId | memberId
    participant_kind: str = Field(max_length=32)
    participant_id: str = Field(max_length=64)
    merged_into: str | None = Field(default=None, max_length=40, index=True)
    last_sequence: int = 0
    created_at: datetime = _when()
    last_activity_at: datetime = _when()
    #: the participant's latest message, for the reply-channel rule and messaging windows
    last_inbound_at: datetime | None = _when(nullable=True)
    last_inbound_channel_id: str | None = Field(default=None, max_length=64)


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "sequence", name="uq_message_sequence"),
        UniqueConstraint("source_channel_id", "provider_message_id", name="uq_message_provider_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    conversation_id: str = Field(max_length=40)
    sequence: int
    content: dict[str, Any] = _json()
    sender_kind: str = Field(max_length=32)
    sender_id: str = Field(max_length=255)
    direction: str = Field(max_length=32)
    visibility: str = Field(max_length=32)
    created_at: datetime = _when()
    source_channel_id: str | None = Field(default=None, max_length=64)
    target_channel_id: str | None = Field(default=None, max_length=64)
    provider_message_id: str | None = Field(default=None, max_length=LONGEST["provider_message_id"])
    badges: list[Any] | None = _json(nullable=True)
    #: the button this message answered (postbacks, quick replies, numbered replies)
    interaction_id: str | None = Field(default=None, max_length=LONGEST["interaction_id"])


#: a delivery a watermark can still move (sent, or delivered and not yet read): the rows
#: `ix_deliveries_unsettled` holds. Said in these words for the same reason as NO_MESSAGE_YET.
UNSETTLED_DELIVERY = text("status IN ('SENT', 'DELIVERED')")


#: a delivery still to send: the rows `ix_deliveries_pending` holds (said in these words, as
#: NO_MESSAGE_YET is)
PENDING_DELIVERY = text("status = 'PENDING'")


class DeliveryRow(SQLModel, table=True):
    """The sending of one business message to one channel."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_recipient", "channel_id", "recipient", "accepted_at"),
        # a person's watermarks read only what they can move, not their whole history
        Index(
            "ix_deliveries_unsettled",
            "channel_id",
            "recipient",
            "status",
            "accepted_at",
            sqlite_where=UNSETTLED_DELIVERY,
            postgresql_where=UNSETTLED_DELIVERY,
        ),
        # a claim reads the person's queue, not their whole history (migration 0016)
        Index(
            "ix_deliveries_pending",
            "channel_id",
            "recipient",
            "next_attempt_at",
            sqlite_where=PENDING_DELIVERY,
            postgresql_where=PENDING_DELIVERY,
        ),
    )

    message_id: str = Field(primary_key=True, max_length=40)
    conversation_id: str = Field(max_length=40)
    channel_id: str = Field(max_length=64)
    recipient: str = Field(max_length=LONGEST["address"])
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=LONGEST["error_code"])
    error_message: str | None = Field(default=None, max_length=LONGEST["error_message"])
    provider_message_ids: list[str] | None = _json(nullable=True)
    #: how many parts the message became, and how many the provider accepted so far
    parts_total: int = 0
    parts_sent: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = _when(nullable=True)
    claimed_until: datetime | None = _when(nullable=True)
    accepted_at: datetime | None = _when(nullable=True)
    agent_window: bool = False
    updated_at: datetime = _when()


class DeliveryPartRow(SQLModel, table=True):
    """One provider message of a delivery (a long SMS becomes several)."""

    __tablename__ = "delivery_parts"
    __table_args__ = (
        UniqueConstraint("channel_id", "provider_message_id", name="uq_part_provider_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=40, index=True)
    channel_id: str = Field(max_length=64)
    part_index: int
    provider_message_id: str = Field(max_length=LONGEST["provider_message_id"])
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=LONGEST["error_code"])
    error_message: str | None = Field(default=None, max_length=LONGEST["error_message"])


class EventRow(SQLModel, table=True):
    """The outbox: every change's events, appended in the change's own transaction."""

    __tablename__ = "events"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=40, unique=True)
    slug: str = Field(max_length=64)
    entity_fqdn: str = Field(max_length=64)
    entity_id: str = Field(max_length=40)
    #: not indexed: the outbox is read by `seq`, and an index would cost a page per event
    conversation_id: str | None = Field(default=None, max_length=40)
    event_time: datetime = _when()
    body: dict[str, Any] = _json()


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    token_name: str = Field(primary_key=True, max_length=128)
    key: str = Field(primary_key=True, max_length=255)
    message_id: str = Field(max_length=40)
    created_at: datetime = _when(index=True)


class MenuRow(SQLModel, table=True):
    """The numbered choices last sent to a conversation on a channel."""

    __tablename__ = "menus"

    conversation_id: str = Field(primary_key=True, max_length=40)
    channel_id: str = Field(primary_key=True, max_length=64)
    message_id: str = Field(max_length=40)
    choices: list[dict[str, str]] = _json()
    created_at: datetime = _when(index=True)


class ClosedWindowRow(SQLModel, table=True):
    """A messaging window whose closing the agents were told of, once (migration 0006).

    The window is the one the participant's message `inbound_message_id` opened: its key
    makes the note a fact written once, however many sweeps run at the same time.
    """

    __tablename__ = "closed_windows"

    inbound_message_id: str = Field(primary_key=True, max_length=40)
    channel_id: str = Field(max_length=64)
    noted_at: datetime = _when()


class AgentSessionRow(SQLModel, table=True):
    """An agent's login to the inbox page (migration 0008); deleting the row ends it.

    The cookie carries a random token and the row only its SHA-256, so reading the table
    gives nobody a session. `password_tag` is an HMAC of the agent's password hash at login:
    a changed password no longer matches, which ends every session of that agent.
    """

    __tablename__ = "agent_sessions"

    id: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64, index=True)
    password_tag: str = Field(max_length=64)
    created_at: datetime = _when()
    expires_at: datetime = _when(index=True)


class LimitUseRow(SQLModel, table=True):
    """Counted uses of a limited door (`Limits.take`), shared by every node (PostgreSQL): one
    use, or a node's share of uses dated when the share ends (migration 0013)."""

    __tablename__ = "limit_uses"
    __table_args__ = (Index("ix_limit_uses_key", "bucket", "key", "used_at"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(max_length=128)
    key: str = Field(max_length=MAX_LIMIT_KEY)
    #: seconds since the epoch
    used_at: float
    uses: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class LimitHoldRow(SQLModel, table=True):
    """Places one node holds (`Limits.acquire`), renewed while it runs (PostgreSQL)."""

    __tablename__ = "limit_holds"

    bucket: str = Field(primary_key=True, max_length=128)
    key: str = Field(primary_key=True, max_length=MAX_LIMIT_KEY)
    holder: str = Field(primary_key=True, max_length=64)
    held: int
    #: seconds since the epoch; a holder that stops renewing frees its places after a lease
    renewed_at: float = Field(index=True)


class SecretRow(SQLModel, table=True):
    __tablename__ = "secrets"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)


class EarlyStatusRow(SQLModel, table=True):
    """A provider's status for a part we have not recorded yet (its callback beat the answer)."""

    __tablename__ = "early_statuses"
    __table_args__ = (Index("ix_early_statuses_provider_id", "channel_id", "provider_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: str = Field(max_length=64)
    provider_message_id: str = Field(max_length=LONGEST["provider_message_id"])
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=LONGEST["error_code"])
    error_message: str | None = Field(default=None, max_length=LONGEST["error_message"])
    opted_out: bool = False
    received_at: datetime = _when(index=True)


class PacingRow(SQLModel, table=True):
    """A paced channel's next free send slot, which every node on one PostgreSQL reserves from
    (migration 0010), so that the channel keeps its pace for the gateway as a whole."""

    __tablename__ = "channel_pacing"

    channel_id: str = Field(primary_key=True, max_length=64)
    next_slot_at: datetime = _when()
