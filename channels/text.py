"""Text no database can keep, so that every door refuses it the same way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def unstorable(text: str) -> bool:
    """Whether `text` holds a NUL character or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def strings_in(value: Any) -> Iterator[str]:
    """Every string in plain data (dicts, lists, tuples), keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def holds_unstorable(value: Any) -> bool:
    """Whether any string in plain data is unstorable."""
    return any(unstorable(text) for text in strings_in(value))
