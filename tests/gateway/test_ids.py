"""Ids the gateway hands out (messages, conversations, events, request ids) are UUIDs."""

from __future__ import annotations

import uuid

from gateway.clock import new_id


def test_ids_are_distinct_version_4_uuids_in_canonical_form() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, hyphenated: what clients compare against
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
