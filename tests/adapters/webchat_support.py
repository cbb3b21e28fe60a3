"""What the web chat adapter's tests share: session requests, identity signatures, the adapter
and its kit."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from adapters.webchat import WebchatAdapter, WebchatConfig
from channels import MessageContent, NativePart, OutboundPart, Part, WebhookRequest
from channels.testing import AdapterKit, RecordingHost, SendCase, json_request

SITE = "https://shop.example.com"
IDENTITY_SECRET = "site-identity-secret"
SESSIONS = "/channels/chat/sessions"


def sign(user_id: str, secret: str = IDENTITY_SECRET) -> str:
    """The signature a site's server puts on a user id it vouches for."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def session_request(
    body: Any = None, *, origin: str | None = SITE, raw: bytes | None = None
) -> WebhookRequest:
    """`POST sessions` as the widget sends it from `origin`."""
    headers = {"origin": origin} if origin is not None else {}
    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    return json_request(SESSIONS, data, headers=headers)


def identified(user_id: str, signature: str | None = None, **details: str) -> WebhookRequest:
    identity = {"userId": user_id, "signature": signature or sign(user_id), **details}
    return session_request({"identity": identity})


def host() -> RecordingHost:
    return RecordingHost(channel_id="chat")


def adapter(
    recording: RecordingHost, _provider_url: str | None = None, **overrides: Any
) -> WebchatAdapter:
    """The web chat channel `chat`, embedded on SITE and on a local development page."""
    settings: dict[str, Any] = {
        "type": "webchat",
        "allowed_origins": [SITE, "http://localhost:3000"],
        "identity_secret": IDENTITY_SECRET,
    }
    settings.update(overrides)
    return WebchatAdapter("chat", WebchatConfig.model_validate(settings), recording)


def out(part: Part, message_id: str = "msg-9") -> OutboundPart:
    return OutboundPart(
        part=part, recipient="v_abc", message_id=message_id, conversation_id="conv-v_abc"
    )


KIT = AdapterKit(
    name="webchat",
    build=adapter,
    secrets=[IDENTITY_SECRET],
    message=identified("user-42", name="Ada"),
    unsigned=[
        identified("user-42", signature=sign("user-43")),
        identified("user-42", signature=sign("user-42", "a guessed secret")),
        session_request({}, origin="https://evil.example.com"),
    ],
    malformed=[session_request(raw=b"{not json"), session_request(raw=b'{"identity": "alice"}')],
    sends=[SendCase("a message for the visitor", out(NativePart(MessageContent.of_text("Hi"))))],
    host=host,
    exempt={
        "duplicate-stored-once": (
            "visitors' messages arrive over the WebSocket, deduplicated by clientMessageId "
            "(test_webchat_socket.py), not as provider webhooks with provider ids"
        ),
    },
)
