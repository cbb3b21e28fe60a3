"""Cursor paging: `paging.limit`, and opaque keyset cursors (base64 of a small JSON object)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.web.api.errors import invalid

DEFAULT_LIMIT = 30
MAX_LIMIT = 100
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
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid("paging.limit", f"an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def encode(cursor: Cursor) -> str:
    data = {"d": cursor.direction, "k": cursor.key, "q": cursor.query}
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, query: dict[str, str]) -> Cursor:
    """The cursor, which must have been made for the same query (same filters and order)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        cursor = Cursor(direction=data["d"], key=list(data["k"]), query=dict(data["q"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid("paging.cursor", "not a cursor this API gave out") from None
    if cursor.direction not in (FORWARD, BACKWARD):
        raise invalid("paging.cursor", "not a cursor this API gave out")
    if cursor.query != query:
        names = ", ".join(sorted(query)) or "the same parameters"
        raise invalid(
            "paging.cursor", f"this cursor belongs to another query; repeat the same {names}"
        )
    return cursor


def metadata(count: int, next_cursor: Cursor | None, prev_cursor: Cursor | None) -> dict[str, Any]:
    cursors: dict[str, str] = {}
    if next_cursor is not None:
        cursors["next"] = encode(next_cursor)
    if prev_cursor is not None:
        cursors["prev"] = encode(prev_cursor)
    return {"count": count, "cursors": cursors}
