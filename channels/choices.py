"""Numbered choices: how postback buttons read as text, and how a reply maps back to one."""

from __future__ import annotations

import re
from collections.abc import Sequence

from channels.parts import Choice

#: the last line of a numbered menu
NUMBER_PROMPT = "Reply with a number."

# "2", "2.", "2)", "(2)", "#2", with any whitespace around
_NUMBER = re.compile(r"\s*[#(]?\s*(\d{1,4})\s*[.)]?\s*")


def numbered_line(number: int, label: str) -> str:
    """How choice `number` (from 1) reads in a text menu: `1) Label`."""
    return f"{number}) {label}"


def match_choice(text: str, menu: Sequence[Choice]) -> Choice | None:
    """The choice a text reply picks from `menu`: by its number, or by its label in any case."""
    if not menu:
        return None
    number = _NUMBER.fullmatch(text)
    if number is not None:
        index = int(number.group(1)) - 1
        if 0 <= index < len(menu):
            return menu[index]
    wanted = _normalise(text)
    if not wanted:
        return None
    for choice in menu:
        if _normalise(choice.label) == wanted:
            return choice
    return None


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()
