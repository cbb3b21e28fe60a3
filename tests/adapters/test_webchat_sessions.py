"""Web chat sessions: origins, CORS, tokens and verified identities (`POST sessions`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, cast

import pytest
from pydantic import ValidationError

from adapters.webchat import WebchatAdapter, WebchatConfig
from adapters.webchat.tokens import TokenSigner
from channels import Participant, WebhookRequest, WebhookResponse
from channels.adapter import HttpHandler
from channels.testing import RecordingHost, json_request

SITE = "https://shop.example.com"
IDENTITY_SECRET = "site-identity-secret"


def make_adapter(**overrides: Any) -> tuple[WebchatAdapter, RecordingHost]:
    host = RecordingHost(channel_id="chat")
    settings: dict[str, Any] = {
        "type": "webchat",
        "allowed_origins": [SITE, "http://localhost:3000"],
        "identity_secret": IDENTITY_SECRET,
    }
    settings.update(overrides)
    return WebchatAdapter("chat", WebchatConfig.model_validate(settings), host), host


def sign(user_id: str, secret: str = IDENTITY_SECRET) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def session_request(
    body: Any = None, *, origin: str | None = SITE, raw: bytes | None = None
) -> WebhookRequest:
    headers = {"origin": origin} if origin is not None else {}
    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    return json_request("/channels/chat/sessions", data, headers=headers)


async def post(adapter: WebchatAdapter, request: WebhookRequest) -> WebhookResponse:
    route = next(r for r in adapter.routes() if r.method == "POST" and r.path == "sessions")
    return await cast(HttpHandler, route.handler)(request)


async def preflight(adapter: WebchatAdapter, origin: str | None) -> WebhookResponse:
    route = next(r for r in adapter.routes() if r.method == "OPTIONS" and r.path == "sessions")
    headers = {"origin": origin, "access-control-request-method": "POST"} if origin else {}
    request = json_request("/channels/chat/sessions", b"", headers=headers, method="OPTIONS")
    return await cast(HttpHandler, route.handler)(request)


def body_of(response: WebhookResponse) -> dict[str, Any]:
    raw = response.body.decode() if isinstance(response.body, bytes) else response.body
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


def error_code(response: WebhookResponse) -> str:
    code = body_of(response)["details"]["applicationError"]["code"]
    assert isinstance(code, str)
    return code


async def test_new_visitor_gets_an_anonymous_conversation_and_token() -> None:
    adapter, _host = make_adapter()
    response = await post(adapter, session_request({}))
    assert response.status == 200
    data = body_of(response)
    visitor = data["anonymousVisitorId"]
    assert visitor.startswith("v_") and len(visitor) == 24
    assert data["conversationId"] == f"conv-{visitor}"
    assert data["token"]
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert response.headers["Vary"] == "Origin"


async def test_two_new_visitors_get_different_conversations() -> None:
    adapter, _ = make_adapter()
    first = body_of(await post(adapter, session_request({})))
    second = body_of(await post(adapter, session_request({})))
    assert first["conversationId"] != second["conversationId"]


async def test_a_returning_token_opens_the_same_conversation() -> None:
    adapter, _ = make_adapter()
    first = body_of(await post(adapter, session_request({})))
    again = body_of(await post(adapter, session_request({"token": first["token"]})))
    assert again["conversationId"] == first["conversationId"]
    assert again["anonymousVisitorId"] == first["anonymousVisitorId"]
    assert again["token"] == first["token"]


async def test_a_tampered_token_is_refused() -> None:
    adapter, _host = make_adapter()
    token = body_of(await post(adapter, session_request({})))["token"]
    payload, mac = token.split(".")
    tampered = payload + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    response = await post(adapter, session_request({"token": tampered}))
    assert response.status == 403
    assert error_code(response) == "INVALID_TOKEN"


async def test_a_token_forged_for_another_visitor_is_refused() -> None:
    adapter, _ = make_adapter()
    forged = TokenSigner(lambda: b"not the installation secret", "chat").issue(
        Participant(address="v_someone_else", anonymous=True)
    )
    response = await post(adapter, session_request({"token": forged}))
    assert response.status == 403
    assert error_code(response) == "INVALID_TOKEN"


async def test_a_token_of_another_channel_is_refused() -> None:
    adapter, host = make_adapter()
    other = WebchatAdapter(
        "other-chat",
        WebchatConfig.model_validate({"type": "webchat", "allowed_origins": [SITE]}),
        host,
    )
    token = body_of(await post(other, session_request({})))["token"]
    response = await post(adapter, session_request({"token": token}))
    assert response.status == 403


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "http://shop.example.com",  # scheme differs
        "https://shop.example.com:8443",  # port differs
        "https://shop.example.com.evil.com",
        "null",
    ],
)
async def test_an_origin_not_allowed_is_refused(origin: str) -> None:
    adapter, host = make_adapter()
    response = await post(adapter, session_request({}, origin=origin))
    assert response.status == 403
    assert error_code(response) == "ORIGIN_NOT_ALLOWED"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert host.sessions == {}


async def test_a_request_without_origin_is_refused() -> None:
    adapter, host = make_adapter()
    response = await post(adapter, session_request({}, origin=None))
    assert response.status == 403
    assert host.sessions == {}


async def test_the_default_port_written_out_matches_the_browser_origin() -> None:
    adapter, _ = make_adapter(allowed_origins=["https://shop.example.com:443"])
    response = await post(adapter, session_request({}, origin="https://shop.example.com"))
    assert response.status == 200


async def test_preflight_from_an_allowed_origin_allows_the_post() -> None:
    adapter, _ = make_adapter()
    response = await preflight(adapter, "http://localhost:3000")
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Vary"] == "Origin"


async def test_preflight_from_another_origin_is_refused() -> None:
    adapter, _ = make_adapter()
    assert (await preflight(adapter, "https://evil.example.com")).status == 403
    assert (await preflight(adapter, None)).status == 403


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'{"token": 5}',
        b'{"identity": "alice"}',
        b'{"identity": {"userId": "alice"}}',
        b'{"identity": {"userId": 7, "signature": "ab"}}',
        b'{"surprise": true}',
    ],
)
async def test_a_malformed_body_gets_400_and_opens_nothing(raw: bytes) -> None:
    adapter, host = make_adapter()
    response = await post(adapter, session_request(raw=raw))
    assert response.status == 400
    assert "message" in body_of(response)
    assert host.sessions == {}


async def test_a_verified_identity_opens_the_contact_and_merges_the_visitor() -> None:
    adapter, host = make_adapter()
    anonymous = body_of(await post(adapter, session_request({})))
    identity = {
        "userId": "user-42",
        "name": "Ada",
        "email": "ada@example.com",
        "phone": "+15550002222",
        "signature": sign("user-42"),
    }
    response = await post(
        adapter, session_request({"token": anonymous["token"], "identity": identity})
    )
    assert response.status == 200
    data = body_of(response)
    assert data["contactId"] == "user-42"
    assert "anonymousVisitorId" not in data
    assert data["token"] != anonymous["token"]
    assert host.merged == [(anonymous["anonymousVisitorId"], "user-42")]

    # The new token belongs to the identified person, and keeps opening their conversation.
    again = body_of(await post(adapter, session_request({"token": data["token"]})))
    assert again["conversationId"] == data["conversationId"]


async def test_identifying_over_another_users_token_merges_nothing() -> None:
    adapter, host = make_adapter()
    first = body_of(
        await post(adapter, session_request({"identity": {"userId": "a", "signature": sign("a")}}))
    )
    second = await post(
        adapter,
        session_request(
            {"token": first["token"], "identity": {"userId": "b", "signature": sign("b")}}
        ),
    )
    assert second.status == 200
    assert body_of(second)["contactId"] == "b"
    assert host.merged == []


async def test_a_bad_identity_signature_is_refused() -> None:
    adapter, host = make_adapter()
    identity = {"userId": "user-42", "signature": sign("user-43")}
    response = await post(adapter, session_request({"identity": identity}))
    assert response.status == 403
    assert error_code(response) == "INVALID_IDENTITY"
    assert host.sessions == {}


async def test_identities_are_refused_when_no_secret_is_configured() -> None:
    adapter, _host = make_adapter(identity_secret=None)
    identity = {"userId": "user-42", "signature": sign("user-42")}
    response = await post(adapter, session_request({"identity": identity}))
    assert response.status == 403
    assert error_code(response) == "INVALID_IDENTITY"


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

    host = LateSecretHost(channel_id="chat")
    config = WebchatConfig.model_validate({"type": "webchat", "allowed_origins": [SITE]})
    adapter = WebchatAdapter("chat", config, host)
    host.loaded = True
    assert (await post(adapter, session_request({}))).status == 200
