"""Text no database can keep, so that every door refuses it the same way.

`ChannelHost.ingest` raises `UnstorableText` for events that hold such text, and the gateway
answers the request 400 for the adapter; adapters that read text from a socket (web chat)
check it themselves with `holds_unstorable`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel


class UnstorableText(ValueError):
    """An inbound event carries text no database can keep (a NUL character, a lone surrogate,
    an id longer than its column)."""


def unstorable(text: str) -> bool:
    """Whether `text` holds a NUL character or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def first_unstorable(value: Any) -> str | None:
    """Where plain data (dicts, lists, tuples) first holds unstorable text, or None.

    The answer is the dotted path of that string (`message.content.basic.items.0.text`), or of
    the object whose key it is; "" when `value` itself is that string. The walk keeps its own
    stack, so data nested as deep as a JSON parser allows cannot exhaust the recursion limit.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                return path
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if isinstance(key, str) and unstorable(key):
                    return path
                children.append((f"{path}.{key}" if path else str(key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(
                reversed([(f"{path}.{i}" if path else str(i), c) for i, c in enumerate(item)])
            )
    return None


def holds_unstorable(value: Any) -> bool:
    """Whether any string in plain data is unstorable, keys included."""
    return first_unstorable(value) is not None


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The fields of a dataclass type, or None for any other type."""
    if kind not in _FIELDS:
        is_dataclass = dataclasses.is_dataclass(kind)
        _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind)) if is_dataclass else None
    return _FIELDS[kind]


def _holds(value: Any) -> bool:
    if isinstance(value, str):
        return unstorable(value)
    names = _field_names(type(value))
    if names is not None:
        # One check for all the plain strings: encoding refuses every surrogate, so joining
        # them cannot hide one.
        texts: list[str] = []
        for name in names:
            item = getattr(value, name)
            if isinstance(item, str):
                texts.append(item)
            elif item is not None and _holds(item):
                return True
        return unstorable("".join(texts))
    if isinstance(value, BaseModel):
        # The JSON form is made in one call; only a NUL (escaped as \u0000, which a typed
        # backslash-u0000 also looks like) or a failure needs the walk through every string.
        try:
            text = value.model_dump_json()
        except ValueError:
            return holds_unstorable(value.model_dump())
        return "\\u0000" in text and holds_unstorable(value.model_dump())
    if isinstance(value, dict | list | tuple):
        return holds_unstorable(value)
    return False


#: the most characters an event's field may hold, by field name: the widths of the columns
#: they are stored in, which `gateway/store/models.py` takes from here (PostgreSQL refuses a
#: longer value; SQLite would keep it, so the two databases would differ). Ids, addresses
#: and payloads this long are not a provider's.
LONGEST = {
    "address": 255,
    "participant_address": 255,
    "provider_message_id": 255,
    "interaction_id": 1000,
    "error_code": 64,
    "error_message": 2000,
}


def first_too_long(value: Any) -> str | None:
    """The name of the first field of an event (or of its participant) longer than LONGEST
    says. Only those fields are read: this runs for every webhook."""
    for name, limit in LONGEST.items():
        item = getattr(value, name, None)
        if isinstance(item, str) and len(item) > limit:
            return name
    participant = getattr(value, "participant", None)
    if participant is not None:
        inner = first_too_long(participant)
        if inner is not None:
            return f"participant.{inner}"
    return None


def refuse_unstorable(events: Iterable[object]) -> None:
    """Raise UnstorableText when any event holds a NUL character or a lone surrogate, or a
    field longer than its column (LONGEST)."""
    events = list(events)
    if any(_holds(event) for event in events):
        raise UnstorableText("text with NUL characters or lone surrogates is not accepted")
    for event in events:
        name = first_too_long(event)
        if name is not None:
            limit = LONGEST[name.rsplit(".", 1)[-1]]
            raise UnstorableText(f"{name} is longer than {limit} characters")
