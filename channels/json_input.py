"""JSON read from outside (a request body, a frame), held to what JSON and storage allow.

Python's `json` module reads more than JSON: `NaN` and `Infinity`, numbers that overflow to
infinity (`1e400`) and integers of any size. None of them can be stored: the JSON columns are
written with orjson, which writes NaN as `null` (a stored value that differs from the one the
client was answered with) and refuses integers past 64 bits (a failed write). `loads` refuses
them as it reads, so every door answers them as malformed input.
"""

from __future__ import annotations

import json
import math
from typing import Any

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


def loads(raw: str | bytes) -> Any:
    """`raw` read as JSON; raises ValueError (UnstorableNumber for numbers) or RecursionError."""
    return json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)
