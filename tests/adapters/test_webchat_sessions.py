"""Web chat sessions: origins, CORS, tokens and verified identities (`POST sessions`): a case
table of single requests, then what takes several."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.webchat import WebchatAdapter, WebchatConfig
from adapters.webchat.tokens import TokenSigner
from channels import InboundEvent, Participant, WebhookRequest, WebhookResponse
from channels.testing import (
    RecordingHost,
    WebhookCase,
    answer,
    check_webhook_case,
    json_request,
    parametrize_cases,
    response_json,
    route_handler,
)
from tests.adapters.webchat_support import (
    SESSIONS,
    SITE,
    adapter,
    host,
    identified,
    session_request,
    sign,
)


def refused(code: str, *, cors: bool = True) -> Any:
    """A check: the answer names `code` (and, without `cors`, allows no origin)."""

    def check(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
        assert response_json(response)["details"]["applicationError"]["code"] == code
        if not cors:
            assert "Access-Control-Allow-Origin" not in response.headers

    return check


def anonymous_visitor(response: WebhookResponse, events: Sequence[InboundEvent]) -> None:
    data = response_json(response)
    visitor = data["anonymousVisitorId"]
    assert visitor.startswith("v_") and len(visitor) == 24
    assert data["conversationId"] == f"conv-{visitor}"
    assert data["token"]


def preflight(origin: str | None) -> WebhookRequest:
    headers = {"origin": origin, "access-control-request-method": "POST"} if origin else {}
    return json_request(SESSIONS, b"", headers=headers, method="OPTIONS")


FORGED = TokenSigner(lambda: b"not the installation secret", "chat").issue(
    Participant(address="v_someone_else", anonymous=True)
)

CASES = [
    WebhookCase(
        "a new visitor gets an anonymous conversation and a token",
        session_request({}),
        headers={"Access-Control-Allow-Origin": SITE, "Vary": "Origin"},
        check=anonymous_visitor,
    ),
    WebhookCase(
        "a token forged for another visitor is refused",
        session_request({"token": FORGED}),
        status=403,
        check=refused("INVALID_TOKEN"),
    ),
    *[
        WebhookCase(
            f"the origin {origin} is refused",
            session_request({}, origin=origin),
            status=403,
            check=refused("ORIGIN_NOT_ALLOWED", cors=False),
        )
        for origin in [
            "https://evil.example.com",
            "http://shop.example.com",  # scheme differs
            "https://shop.example.com:8443",  # port differs
            "https://shop.example.com.evil.com",
            "null",
        ]
    ],
    WebhookCase(
        "a request without an origin is refused", session_request({}, origin=None), status=403
    ),
    WebhookCase(
        "a preflight from an allowed origin allows the POST",
        preflight("http://localhost:3000"),
        status=204,
        headers={"Access-Control-Allow-Origin": "http://localhost:3000", "Vary": "Origin"},
        check=lambda response, _: (
            "POST" in response.headers["Access-Control-Allow-Methods"]
            and "Content-Type" in response.headers["Access-Control-Allow-Headers"]
        ),
    ),
    WebhookCase(
        "a preflight from another origin is refused",
        preflight("https://evil.example.com"),
        status=403,
    ),
    WebhookCase("a preflight without an origin is refused", preflight(None), status=403),
    *[
        WebhookCase(
            f"the malformed body {raw!r} gets 400",
            session_request(raw=raw),
            status=400,
            check=lambda response, _: "message" in response_json(response),
        )
        for raw in [
            b"{not json",
            b"[1, 2]",
            b'{"token": 5}',
            b'{"identity": "alice"}',
            b'{"identity": {"userId": "alice"}}',
            b'{"identity": {"userId": 7, "signature": "ab"}}',
            b'{"surprise": true}',
        ]
    ],
    WebhookCase(
        "a verified identity opens the contact's conversation",
        identified("user-42", name="Ada", email="ada@example.com", phone="+15550002222"),
        check=lambda response, _: (
            response_json(response)["contactId"] == "user-42"
            and "anonymousVisitorId" not in response_json(response)
        ),
    ),
    WebhookCase(
        "a bad identity signature is refused",
        identified("user-42", signature=sign("user-43")),
        status=403,
        check=refused("INVALID_IDENTITY"),
    ),
]


@parametrize_cases(CASES)
async def test_session(case: WebhookCase) -> None:
    recording = host()
    chat = adapter(recording)
    before = dict(recording.sessions)
    await check_webhook_case(chat, recording, case)
    if case.status >= 400:
        assert recording.sessions == before, "a refused request opened a session"


async def test_the_default_port_written_out_matches_the_browser_origin() -> None:
    recording = host()
    chat = adapter(recording, allowed_origins=["https://shop.example.com:443"])
    case = WebhookCase("default port", session_request({}, origin="https://shop.example.com"))
    await check_webhook_case(chat, recording, case)


async def post(chat: WebchatAdapter, request: WebhookRequest) -> dict[str, Any]:
    response = await answer(route_handler(chat, "POST", SESSIONS), request)
    data: dict[str, Any] = {"status": response.status, **json.loads(str(response.body))}
    return data


async def test_two_new_visitors_get_different_conversations() -> None:
    chat = adapter(host())
    first = await post(chat, session_request({}))
    second = await post(chat, session_request({}))
    assert first["conversationId"] != second["conversationId"]


async def test_a_returning_token_opens_the_same_conversation() -> None:
    chat = adapter(host())
    first = await post(chat, session_request({}))
    again = await post(chat, session_request({"token": first["token"]}))
    assert again["conversationId"] == first["conversationId"]
    assert again["anonymousVisitorId"] == first["anonymousVisitorId"]


async def test_a_tampered_token_is_refused() -> None:
    chat = adapter(host())
    token = (await post(chat, session_request({})))["token"]
    payload, mac = token.split(".")
    tampered = payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    answer_ = await post(chat, session_request({"token": tampered}))
    assert answer_["status"] == 403
    assert answer_["details"]["applicationError"]["code"] == "INVALID_TOKEN"


async def test_a_token_of_another_channel_is_refused() -> None:
    recording = host()
    other = WebchatAdapter(
        "other-chat",
        WebchatConfig.model_validate({"type": "webchat", "allowed_origins": [SITE]}),
        recording,
    )
    token = (await post(other, session_request({})))["token"]
    assert (await post(adapter(recording), session_request({"token": token})))["status"] == 403


async def test_a_verified_identity_merges_the_anonymous_visitor() -> None:
    recording = host()
    chat = adapter(recording)
    anonymous = await post(chat, session_request({}))
    identity = {"userId": "user-42", "name": "Ada", "signature": sign("user-42")}
    data = await post(chat, session_request({"token": anonymous["token"], "identity": identity}))
    assert data["status"] == 200 and data["contactId"] == "user-42"
    assert data["token"] != anonymous["token"]
    assert recording.merged == [(anonymous["anonymousVisitorId"], "user-42")]

    # The new token belongs to the identified person, and keeps opening their conversation.
    again = await post(chat, session_request({"token": data["token"]}))
    assert again["conversationId"] == data["conversationId"]


async def test_identifying_over_another_users_token_merges_nothing() -> None:
    recording = host()
    chat = adapter(recording)
    first = await post(chat, identified("a"))
    identity = {"userId": "b", "signature": sign("b")}
    second = await post(chat, session_request({"token": first["token"], "identity": identity}))
    assert second["status"] == 200 and second["contactId"] == "b"
    assert recording.merged == []


async def test_identities_are_refused_when_no_secret_is_configured() -> None:
    case = WebhookCase(
        "no secret", identified("user-42"), status=403, body_contains="INVALID_IDENTITY"
    )
    recording = host()
    await check_webhook_case(adapter(recording, identity_secret=None), recording, case)


@pytest.mark.parametrize(
    "origins",
    [
        [],
        ["*"],
        ["shop.example.com"],
        ["https://shop.example.com/"],
        ["https://shop.example.com/chat"],
        ["ftp://shop.example.com"],
    ],
)
def test_config_refuses_anything_but_exact_origins(origins: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        WebchatConfig.model_validate({"type": "webchat", "allowed_origins": origins})
    assert "allowed_origins" in str(caught.value)


def test_config_requires_allowed_origins_and_has_defaults() -> None:
    with pytest.raises(ValidationError):
        WebchatConfig.model_validate({"type": "webchat"})
    config = WebchatConfig.model_validate({"type": "webchat", "allowed_origins": [SITE]})
    assert config.title == "Chat with us"
    assert (config.flood_messages, config.flood_seconds) == (20, 10.0)
    assert config.identity_secret is None
    assert WebchatAdapter.default_rate_per_second is None
    assert WebchatAdapter.type == "webchat"


async def test_the_installation_secret_is_read_only_when_a_visitor_arrives() -> None:
    """The gateway loads its secret after building adapters; tokens must not be signed before."""

    class LateSecretHost(RecordingHost):
        loaded = False

        def secret(self, name: str) -> bytes:
            if not self.loaded:
                raise RuntimeError("not loaded yet")
            return super().secret(name)

    recording = LateSecretHost(channel_id="chat")
    chat = adapter(recording, allowed_origins=[SITE], identity_secret=None)
    recording.loaded = True
    assert (await post(chat, session_request({})))["status"] == 200
