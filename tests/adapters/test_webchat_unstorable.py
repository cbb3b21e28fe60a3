"""A visitor's message with text no database can keep is a bad frame, not a storage failure."""

from __future__ import annotations

import json

import pytest

from adapters.webchat.protocol import BadFrame, parse_frame


@pytest.mark.parametrize("text", ["nul \x00 inside", "lone \ud800 surrogate"])
def test_unstorable_text_in_a_message_frame_is_refused_as_a_bad_frame(text: str) -> None:
    frame = {
        "type": "message",
        "clientMessageId": "c1",
        "content": {"basic": {"items": [{"text": text}]}},
    }
    with pytest.raises(BadFrame) as refused:
        parse_frame(json.dumps(frame))
    assert refused.value.client_message_id == "c1"
    assert refused.value.code == "BAD_FRAME"
