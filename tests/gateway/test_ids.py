"""Ids the gateway hands out (messages, conversations, events, request ids) are UUIDs."""

from __future__ import annotations

import time
import uuid

from gateway.clock import new_id


def test_ids_are_distinct_version_7_uuids_in_canonical_form() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, hyphenated: what clients compare against
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_ids_made_later_sort_after_earlier_ones_and_carry_their_time() -> None:
    """Rows written one after another sort together in every index on their ids."""
    before = time.time_ns() // 1_000_000
    first = [new_id() for _ in range(100)]
    time.sleep(0.002)
    later = [new_id() for _ in range(100)]
    after = time.time_ns() // 1_000_000
    assert max(first) < min(later)
    for text in first + later:
        assert before <= int(text.replace("-", "")[:12], 16) <= after
