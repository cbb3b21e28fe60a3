"""Outgoing-webhook bookkeeping: one cursor per subscriber and the events still being retried."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

#: an event waiting for its next try (the subscriber's head, or a replay)
RETRYING = "RETRYING"
#: an event sent again on request (`inbox-gateway events --replay`)
REPLAY = "REPLAY"
#: an event given up on after the retries ran out
FAILED = "FAILED"


def subscriber_key(url: str) -> str:
    """The stable key of a subscriber: its URL, hashed so that any length fits."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]


class WebhookCursorRow(SQLModel, table=True):
    """How far one subscriber got: every event up to `last_seq` was handled for it."""

    __tablename__ = "webhook_cursors"

    subscriber: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2048)
    last_seq: int = 0
    #: the process sending to this subscriber now, so that two nodes never both do
    owner: str | None = Field(default=None, max_length=64)
    leased_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WebhookAttemptRow(SQLModel, table=True):
    """An event that did not reach a subscriber yet (or ever): its tries and next one."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_due", "subscriber", "state", "next_attempt_at"),)

    subscriber: str = Field(primary_key=True, max_length=40)
    event_seq: int = Field(primary_key=True)
    event_id: str = Field(max_length=40, index=True)
    state: str = Field(max_length=16)
    attempts: int = 0
    first_failed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_error: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
