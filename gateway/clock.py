"""Time and ids, in one place so that every record agrees on their form."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

#: random bytes for ids are read from the OS this many ids at a time
_ID_BATCH = 256
_random = threading.local()


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A time-ordered (version 7) UUID, as text: the milliseconds since 1970, then 74 random
    bits.

    Ids of rows written together sort together, so a batch's inserts into a table's id index
    touch its last page or two instead of one page per row at random: with random ids each
    row dirtied an index page of its own, which SQLite then wrote to its log at the commit.
    """
    # One read of the OS's randomness per _ID_BATCH ids.
    offset: int = getattr(_random, "offset", 10 * _ID_BATCH)
    if offset >= 10 * _ID_BATCH:
        _random.pool, offset = os.urandom(10 * _ID_BATCH), 0
    _random.offset = offset + 10
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big"))
    raw += _random.pool[offset : offset + 10]
    raw[6] = raw[6] & 0x0F | 0x70  # version 7
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 9562 variant
    # str(uuid.UUID(bytes=...)), formatted directly: every message, event and request takes
    # an id, and the UUID object costs three times the formatting.
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _forget_random_after_fork() -> None:
    # A child process must not hand out the ids its parent still holds.
    _random.__dict__.clear()


os.register_at_fork(after_in_child=_forget_random_after_fork)


def aware(value: datetime) -> datetime:
    """The same instant with a UTC zone (SQLite hands back naive datetimes)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return aware(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
