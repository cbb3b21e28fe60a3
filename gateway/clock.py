"""Time and ids, in one place so that every record agrees on their form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def aware(value: datetime) -> datetime:
    """The same instant with a UTC zone (SQLite hands back naive datetimes)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return aware(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
