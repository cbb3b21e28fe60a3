"""Which text no database can keep."""

from __future__ import annotations

import pytest

from channels.text import holds_unstorable, unstorable


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("hello", False),
        ("a literal \\u0000 typed in a code snippet", False),
        ("emoji 🎉 and accents é", False),
        ("nul \x00 inside", True),
        ("lone \ud800 surrogate", True),
    ],
)
def test_unstorable_text(text: str, refused: bool) -> None:
    assert unstorable(text) is refused


def test_unstorable_text_is_found_anywhere_in_plain_data() -> None:
    assert holds_unstorable({"basic": {"items": [{"text": "ok"}, {"text": "b\x00d"}]}})
    assert holds_unstorable({"key\x00": "value"})
    assert not holds_unstorable({"basic": {"items": [{"text": "fine"}]}, "n": 3})
