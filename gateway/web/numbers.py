"""Whole numbers in query strings: ASCII digits only, within a range.

`str.isdigit()` is true for "¹" and "٣", which `int()` then refuses or reads, and `int()` of
thousands of digits raises: so only ASCII digits, no sign, spaces or underscores, are read,
and never more than a range can need.
"""

from __future__ import annotations

#: leading zeros are fine; a number this long is not, whatever the range
MAX_DIGITS = 32


def ascii_int(text: str, low: int, high: int) -> int | None:
    """`text` as an integer from `low` to `high`; None when it is anything else."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        return None
    value = int(text)
    return value if low <= value <= high else None
