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


#: every integer past 64 bits has at least 19 digits
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
#: what may put a NUL or a lone surrogate in text `loads` reads: an escape (`\u0000`,
#: `\ud800`), a zero byte (UTF-16 and UTF-32 documents, whose units may be lone
#: surrogates) or the UTF-8 form of a surrogate, which Python's reading lets through
_MAY_BE_UNSTORABLE = re.compile(rb"\\u|\x00|\xed[\xa0-\xbf]")


def loads(raw: str | bytes) -> Any:
    """`raw` read as JSON; raises ValueError (UnstorableNumber for numbers) or RecursionError."""
    if isinstance(raw, bytes) and _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # read again below, to refuse it in the same words
    return json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)


def may_hold_unstorable(raw: bytes) -> bool:
    """Whether text `loads` reads from `raw` may hold a NUL or a lone surrogate; when not,
    no string in it needs looking at (a raw control character is not JSON)."""
    return _MAY_BE_UNSTORABLE.search(raw) is not None
