"""Visitor tokens expire (sliding), carry a key id, and end when `identity_secret` rotates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.webchat import WebchatAdapter, WebchatConfig
from adapters.webchat.tokens import TokenSigner
from channels import Participant
from channels.testing import RecordingHost
from tests.adapters.test_webchat_sessions import post
from tests.adapters.test_webchat_socket import Visitor
from tests.adapters.webchat_support import IDENTITY_SECRET, adapter, host, identified
from tests.adapters.webchat_support import session_request as session

DAY = 86400.0


def signer(recording: RecordingHost, *, days_ago: float, identity_secret: str | None = None) -> Any:
    """The channel's own signer, as it was `days_ago` days ago."""
    return TokenSigner(
        lambda: recording.secret("webchat-token"),
        "chat",
        identity_secret=identity_secret,
        clock=lambda: time.time() - days_ago * DAY,
    )


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


async def refused_on_the_socket(chat: WebchatAdapter, token: str) -> bool:
    visitor = Visitor(chat, token)
    frame = await visitor.socket.next_frame()
    await visitor.task
    return frame.get("code") == "INVALID_TOKEN" and visitor.socket.closed is not None


async def test_a_token_carries_an_expiry_and_a_key_id() -> None:
    token = (await post(adapter(host()), session({})))["token"]
    data = payload(token)
    assert 29 * DAY < data["exp"] - time.time() <= 30 * DAY
    assert data["kid"]


async def test_a_returning_visitor_gets_a_fresh_token_for_the_same_conversation() -> None:
    recording = host()
    chat = adapter(recording)
    visitor = Participant(address="v_returning", anonymous=True)
    await recording.open_session(visitor)
    old = signer(recording, days_ago=29).issue(visitor)  # one day of its lifetime left
    renewed = await post(chat, session({"token": old}))
    assert renewed["status"] == 200
    assert renewed["anonymousVisitorId"] == "v_returning"
    assert payload(renewed["token"])["exp"] > payload(old)["exp"] + 28 * DAY
    # the renewed token is good for the full lifetime again, on a later visit too
    later = await post(chat, session({"token": renewed["token"]}))
    assert later["anonymousVisitorId"] == "v_returning"


async def test_an_expired_anonymous_token_starts_a_new_conversation() -> None:
    recording = host()
    chat = adapter(recording)
    visitor = Participant(address="v_gone_a_month", anonymous=True)
    await recording.open_session(visitor)
    expired = signer(recording, days_ago=31).issue(visitor)
    assert await refused_on_the_socket(chat, expired)
    fresh = await post(chat, session({"token": expired}))
    assert fresh["status"] == 200
    assert fresh["anonymousVisitorId"] != "v_gone_a_month"
    assert fresh["conversationId"] != "conv-v_gone_a_month"


async def test_an_expired_identified_token_is_refused_until_the_site_identifies_again() -> None:
    recording = host()
    chat = adapter(recording)
    person = Participant(address="user-42", anonymous=False)
    expired = signer(recording, days_ago=31, identity_secret=IDENTITY_SECRET).issue(person)
    answer = await post(chat, session({"token": expired}))
    assert answer["status"] == 403
    assert answer["details"]["applicationError"]["code"] == "INVALID_TOKEN"
    again = await post(chat, identified("user-42"))
    assert again["status"] == 200 and again["contactId"] == "user-42"


async def test_rotating_the_identity_secret_ends_identified_tokens_at_once() -> None:
    recording = host()
    before = adapter(recording)
    person = (await post(before, identified("user-42")))["token"]
    anonymous = (await post(before, session({})))["token"]

    rotated = adapter(recording, identity_secret="the-new-identity-secret")
    answer = await post(rotated, session({"token": person}))
    assert answer["status"] == 403
    assert answer["details"]["applicationError"]["code"] == "INVALID_TOKEN"
    assert await refused_on_the_socket(rotated, person)
    # anonymous visitors are not the site's to vouch for: they keep their conversation
    kept = await post(rotated, session({"token": anonymous}))
    assert kept["status"] == 200
    assert kept["anonymousVisitorId"] == payload(anonymous)["id"]
    # the visitor identifies again, under the new secret
    new_signature = hmac.new(b"the-new-identity-secret", b"user-42", hashlib.sha256).hexdigest()
    again = await post(rotated, identified("user-42", signature=new_signature))
    assert again["status"] == 200 and again["contactId"] == "user-42"


async def test_removing_the_identity_secret_ends_identified_tokens() -> None:
    recording = host()
    person = (await post(adapter(recording), identified("user-42")))["token"]
    without = adapter(recording, identity_secret=None)
    assert (await post(without, session({"token": person})))["status"] == 403


def legacy_token(recording: RecordingHost, kind: str, address: str) -> str:
    """A token of the earlier format, which had no expiry."""
    body = json.dumps({"v": "1", "k": kind, "id": address}, sort_keys=True).encode()
    data = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    message = f"webchat-token:1:chat:{data}".encode()
    key = recording.secret("webchat-token")
    mac = base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest())
    return f"{data}.{mac.rstrip(b'=').decode()}"


async def test_a_token_without_an_expiry_counts_as_expired() -> None:
    recording = host()
    chat = adapter(recording)
    anonymous = legacy_token(recording, "a", "v_from_long_ago")
    assert await refused_on_the_socket(chat, anonymous)
    fresh = await post(chat, session({"token": anonymous}))
    assert fresh["status"] == 200 and fresh["anonymousVisitorId"] != "v_from_long_ago"
    person = legacy_token(recording, "u", "user-42")
    assert (await post(chat, session({"token": person})))["status"] == 403


async def test_the_lifetime_is_the_channels_token_lifetime_days() -> None:
    chat = adapter(host(), token_lifetime_days=2)
    token = (await post(chat, session({})))["token"]
    assert 1.9 * DAY < payload(token)["exp"] - time.time() <= 2 * DAY
    with pytest.raises(ValidationError, match="token_lifetime_days"):
        WebchatConfig.model_validate(
            {"type": "webchat", "allowed_origins": ["https://a.example"], "token_lifetime_days": 0}
        )
