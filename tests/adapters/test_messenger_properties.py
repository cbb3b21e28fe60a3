"""Whatever signed body arrives, the webhook answers 200 or 400 and never crashes.

The answers are the gateway's (`answer`): text no database can keep is refused with 400 there.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.messenger import MessengerAdapter, MessengerConfig
from channels.testing import RecordingHost, answer, json_request

SECRET = "secret"
PAGE = "1"

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "mid",
        "text",
        "attachments",
        "quick_reply",
        "payload",
        "title",
        "url",
        "type",
        "is_echo",
        "app_id",
        "mids",
        "watermark",
        "id",
        "coordinates",
        "elements",
        "sticker_id",
    ]
)
shaped: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
events = st.fixed_dictionaries(
    {
        "sender": st.fixed_dictionaries({"id": st.text(max_size=5) | st.integers()}),
        "recipient": st.fixed_dictionaries({"id": st.just(PAGE)}),
        "timestamp": st.integers(min_value=-(2**70), max_value=2**70) | st.floats(),
    },
    optional={k: shaped for k in ("message", "postback", "delivery", "read", "reaction")},
)
bodies = st.one_of(
    values,
    st.fixed_dictionaries(
        {
            "object": st.just("page"),
            "entry": st.lists(
                st.fixed_dictionaries(
                    {"id": st.just(PAGE), "messaging": st.lists(events, max_size=3)}
                )
                | values,
                max_size=3,
            ),
        }
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_any_signed_body_gets_200_or_400_and_valid_events(body: Any) -> None:
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    host = RecordingHost()
    config = MessengerConfig(
        type="messenger", page_id=PAGE, page_access_token="t", app_secret=SECRET, verify_token="v"
    )
    adapter = MessengerAdapter("fb", config, host)
    request = json_request("/webhook", raw, headers={"X-Hub-Signature-256": signature})
    response = asyncio.run(answer(adapter.receive, request))
    assert response.status in (200, 400)
    if response.status == 400:
        assert host.events == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_signed_bytes_never_crash(raw: bytes) -> None:
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    config = MessengerConfig(
        type="messenger", page_id=PAGE, page_access_token="t", app_secret=SECRET, verify_token="v"
    )
    adapter = MessengerAdapter("fb", config, RecordingHost())
    request = json_request("/webhook", raw, headers={"X-Hub-Signature-256": signature})
    assert asyncio.run(answer(adapter.receive, request)).status in (200, 400)
