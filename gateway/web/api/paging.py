"""Cursor paging: `paging.limit`, and opaque keyset cursors (base64 of a small JSON object).

A cursor comes back from the client, so it is read like any other input: base64 of at most
MAX_CURSOR characters, a JSON object of exactly the fields this API writes, each of the type
it writes; the listing then checks its key (`sequence_key`, `activity_key`), so a forged one
is a 400 and never reaches the database.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from channels import MAX_SEQUENCE
from channels.text import unstorable
from gateway.web.api.errors import Invalid, invalid
from gateway.web.numbers import ascii_int

DEFAULT_LIMIT = 30
MAX_LIMIT = 100
#: the longest cursor this API gives out is far shorter
MAX_CURSOR = 1024
MAX_ID = 64
#: a cursor continues past its key ("next") or comes back before it ("prev")
FORWARD, BACKWARD = "next", "prev"


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after (`next`) or before (`prev`) `key`, for one query."""

    direction: str
    key: list[Any]
    query: dict[str, str]


def limit_of(query: Mapping[str, str]) -> int:
    raw = query.get("paging.limit")
    if raw is None:
        return DEFAULT_LIMIT
    limit = ascii_int(raw, 1, MAX_LIMIT)
    if limit is None:
        raise invalid("paging.limit", f"an integer from 1 to {MAX_LIMIT}")
    return limit


def encode(cursor: Cursor) -> str:
    data = {"d": cursor.direction, "k": cursor.key, "q": cursor.query}
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged() -> Invalid:
    return invalid("paging.cursor", "not a cursor this API gave out")


def decode(text: str, query: dict[str, str]) -> Cursor:
    """The cursor, which must have been made for the same query (same filters and order)."""
    if len(text) > MAX_CURSOR:
        raise forged()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise forged() from None
    if not isinstance(data, dict) or data.keys() != {"d", "k", "q"}:
        raise forged()
    direction, key, made_for = data["d"], data["k"], data["q"]
    if (
        direction not in (FORWARD, BACKWARD)
        or not isinstance(key, list)
        or not isinstance(made_for, dict)
        or not all(isinstance(value, str) for value in made_for.values())
    ):
        raise forged()
    cursor = Cursor(direction=direction, key=key, query=made_for)
    if cursor.query != query:
        # the query the cursor was made for, which the client must repeat
        names = ", ".join(sorted(made_for))
        again = f"with the same {names}" if names else "without filters"
        raise invalid("paging.cursor", f"this cursor belongs to another query; use it {again}")
    return cursor


def sequence_key(cursor: Cursor) -> int:
    """The message sequence a messages cursor starts from."""
    if len(cursor.key) != 1:
        raise forged()
    [sequence] = cursor.key
    # JSON's true is a Python int too, and a number past the column's range fails the query
    if type(sequence) is not int or not 0 <= sequence <= MAX_SEQUENCE:
        raise forged()
    return sequence


def activity_key(cursor: Cursor) -> tuple[datetime, str]:
    """The (last activity, conversation id) a conversations cursor starts from."""
    if len(cursor.key) != 2:
        raise forged()
    stamp, conversation_id = cursor.key
    if not (
        isinstance(stamp, str)
        and len(stamp) <= 40
        and isinstance(conversation_id, str)
        and 0 < len(conversation_id) <= MAX_ID
        and not unstorable(conversation_id)
    ):
        raise forged()
    try:
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("a cursor's time has its offset")
        return when.astimezone(UTC), conversation_id
    except (ValueError, OverflowError):
        # OverflowError: a time near year 1 or 9999 that leaves the calendar once made UTC
        raise forged() from None


def metadata(count: int, next_cursor: Cursor | None, prev_cursor: Cursor | None) -> dict[str, Any]:
    cursors: dict[str, str] = {}
    if next_cursor is not None:
        cursors["next"] = encode(next_cursor)
    if prev_cursor is not None:
        cursors["prev"] = encode(prev_cursor)
    return {"count": count, "cursors": cursors}
