"""Time and ids, in one place so that every record agrees on their form."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

#: random bytes for ids are read from the OS this many ids at a time
_ID_BATCH = 256
_random = threading.local()


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A random (version 4) UUID, as text."""
    # What uuid.uuid4() does, with one read of the OS's randomness per _ID_BATCH ids.
    offset: int = getattr(_random, "offset", 16 * _ID_BATCH)
    if offset >= 16 * _ID_BATCH:
        _random.pool, offset = os.urandom(16 * _ID_BATCH), 0
    _random.offset = offset + 16
    # str(uuid.UUID(bytes=..., version=4)), formatted directly: every message, event and
    # request takes an id, and the UUID object costs three times the formatting.
    raw = bytearray(_random.pool[offset : offset + 16])
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
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
