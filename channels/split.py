"""Splitting long text into pieces a channel accepts, on word boundaries."""

from __future__ import annotations


def split_text(text: str, limit: int | None) -> list[str]:
    """`text` cut into pieces of at most `limit` characters, preferring whitespace.

    The whitespace at a cut is dropped; a word longer than `limit` is cut where it must be.
    Text that is only whitespace yields no pieces, since it would show nothing.
    """
    if not text.strip():
        return []
    if limit is None or len(text) <= limit:
        return [text]
    if limit < 1:
        raise ValueError("a text limit must be at least 1")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _last_space(rest, limit)
        if cut > 0:
            pieces.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
        else:
            pieces.append(rest[:limit])
            rest = rest[limit:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _last_space(text: str, limit: int) -> int:
    """Index of the last whitespace at or before `limit`, or -1; `text` starts with a word."""
    for index in range(min(limit, len(text) - 1), 0, -1):
        if text[index].isspace():
            return index
    return -1
