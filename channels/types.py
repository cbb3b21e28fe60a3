"""The canonical values adapters and the gateway exchange: channel types and statuses."""

from __future__ import annotations

from enum import StrEnum

#: the largest message sequence (a conversation's messages are numbered from 1); the column is
#: an INTEGER, 32 bits on PostgreSQL, so a number a client sends beyond it names no message and
#: must be refused before it reaches a query
MAX_SEQUENCE = 2**31 - 1


class ChannelType(StrEnum):
    """What kind of transport a channel is (SPEC section 1); plug-ins may use others."""

    CHAT = "CHAT"
    SMS = "SMS"
    FACEBOOK = "FACEBOOK"
    EMAIL = "EMAIL"
    WHATSAPP = "WHATSAPP"
    INSTAGRAM = "INSTAGRAM"


class DeliveryStatus(StrEnum):
    """Where an outbound message is; statuses only move forward (SPEC section 6)."""

    PENDING = "PENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def advances_to(self, new: DeliveryStatus) -> bool:
        """Whether moving from this status to `new` is a step forward."""
        if self is DeliveryStatus.FAILED or self is DeliveryStatus.READ:
            return False
        if new is DeliveryStatus.FAILED:
            return True
        return _RANK[new] > _RANK[self]


_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


class Direction(StrEnum):
    BUSINESS_TO_PARTICIPANT = "BUSINESS_TO_PARTICIPANT"
    PARTICIPANT_TO_BUSINESS = "PARTICIPANT_TO_BUSINESS"


class Visibility(StrEnum):
    BUSINESS_AND_PARTICIPANT = "BUSINESS_AND_PARTICIPANT"
    BUSINESS = "BUSINESS"
