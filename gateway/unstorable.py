"""Text a database cannot hold (NUL characters): refused at the door, never half-stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel


class UnstorableText(ValueError):
    """An inbound event carries text with a NUL character (PostgreSQL cannot store it)."""


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        yield value.model_dump_json()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _strings(getattr(value, item.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def refuse_unstorable(events: Iterable[object]) -> None:
    """Raise UnstorableText when any event holds a NUL character, raw or JSON-escaped."""
    for event in events:
        for text in _strings(event):
            if "\x00" in text or "\\u0000" in text:
                raise UnstorableText("text with NUL characters is not accepted")
