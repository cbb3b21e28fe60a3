"""JSON read from outside (a request body, a frame), held to what JSON and storage allow.

Python's `json` module reads more than JSON: `NaN` and `Infinity`, numbers that overflow to
infinity (`1e400`) and integers of any size. None of them can be stored: the JSON columns are
written with orjson, which writes NaN as `null` (a stored value that differs from the one the
client was answered with) and refuses integers past 64 bits (a failed write). `loads` refuses
them as it reads, so every door answers them as malformed input.

orjson reads a document first, in about a tenth of the time: where it accepts one, Python's
reading below gives the same value, except for an integer past 64 bits, which orjson reads
as a float; a document with a run of 19 digits is therefore read the careful way, as is
every document orjson refuses, so that what is wrong is said the same way.

Nor can a document be stored that nests deeper than orjson writes (254 arrays and objects; a
message's `badges` are kept as sent, inside its own document): `loads` refuses one that nests
deeper than `DEEPEST`, which no document of the contract comes near.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

#: the integers orjson writes: signed 64-bit, and unsigned 64-bit above it
SMALLEST_INT = -(2**63)
LARGEST_INT = 2**64 - 1


class UnstorableNumber(ValueError):
    """A number in JSON that no JSON column can keep as it was sent."""


def _constant(name: str) -> Any:
    raise UnstorableNumber(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnstorableNumber("a number too large for a double")
    return value


def _int(text: str) -> int:
    # the text is digits with an optional sign: Python refuses over 4,300 digits (ValueError)
    value = int(text)
    if not SMALLEST_INT <= value <= LARGEST_INT:
        raise UnstorableNumber("an integer past 64 bits")
    return value


#: how deep arrays and objects may nest in a document read from outside: many times what any
#: request, frame or webhook of the contract needs, and far enough below the 254 levels orjson
#: writes that whatever a column keeps of it, wrapped in its own document, can be written
DEEPEST = 64


class TooDeep(ValueError):
    """A document whose arrays and objects nest deeper than `DEEPEST`."""


#: every integer past 64 bits has at least 19 digits
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
#: what may put a NUL or a lone surrogate in text `loads` reads: an escape (`\u0000`,
#: `\ud800`), a zero byte (UTF-16 and UTF-32 documents, whose units may be lone
#: surrogates) or the UTF-8 form of a surrogate, which Python's reading lets through
_MAY_BE_UNSTORABLE = re.compile(rb"\\u|\x00|\xed[\xa0-\xbf]")


def loads(raw: str | bytes) -> Any:
    """`raw` read as JSON; raises ValueError (UnstorableNumber for numbers, TooDeep for a
    document nested too deeply) or RecursionError."""
    value: Any = None
    if isinstance(raw, bytes) and _LONG_DIGITS.search(raw) is None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # read again below, to refuse it in the same words
        else:
            _refuse_too_deep(raw, value)
            return value
    value = json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)
    _refuse_too_deep(raw, value)
    return value


def _refuse_too_deep(raw: str | bytes, value: Any) -> None:
    # Each level opens with a bracket: a document with no more brackets than DEEPEST (nearly
    # every one) cannot be too deep, and counting them costs far less than walking the value.
    opened = (
        raw.count("[") + raw.count("{")
        if isinstance(raw, str)
        else raw.count(b"[") + raw.count(b"{")
    )
    if opened <= DEEPEST:
        return
    level = [(value, 1)]
    while level:
        node, depth = level.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > DEEPEST:
                    raise TooDeep(f"arrays and objects nested deeper than {DEEPEST} levels")
                level.append((child, depth + 1))


def may_hold_unstorable(raw: bytes) -> bool:
    """Whether text `loads` reads from `raw` may hold a NUL or a lone surrogate; when not,
    no string in it needs looking at (a raw control character is not JSON)."""
    return _MAY_BE_UNSTORABLE.search(raw) is not None
