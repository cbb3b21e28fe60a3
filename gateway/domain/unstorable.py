"""Text a database cannot hold (NUL characters, lone surrogates): refused at the door."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from channels.text import holds_unstorable


class UnstorableText(ValueError):
    """An inbound event carries text no database can keep."""


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_plain(getattr(value, field.name)) for field in dataclasses.fields(value)]
    return value


def refuse_unstorable(events: Iterable[object]) -> None:
    """Raise UnstorableText when any event holds a NUL character or a lone surrogate."""
    if any(holds_unstorable(_plain(event)) for event in events):
        raise UnstorableText("text with NUL characters or lone surrogates is not accepted")
