"""Checks on Meta's webhook requests: the subscription handshake and the body signature."""

from __future__ import annotations

import hashlib
import hmac

from channels import WebhookRequest, WebhookResponse

SIGNATURE_HEADER = "x-hub-signature-256"


def verify_subscription(request: WebhookRequest, verify_token: str) -> WebhookResponse:
    """Meta's `GET` handshake: echo `hub.challenge` when the mode and the token match."""
    mode = request.query.get("hub.mode", "")
    token = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge", "")
    if mode == "subscribe" and hmac.compare_digest(token.encode(), verify_token.encode()):
        return WebhookResponse(status=200, body=challenge, content_type="text/plain")
    return WebhookResponse(status=403, body="verification failed", content_type="text/plain")


def sign(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_ok(request: WebhookRequest, app_secret: str) -> bool:
    """Whether the body carries a valid signature over its bytes as received."""
    header = request.header(SIGNATURE_HEADER)
    if not header:
        return False
    # Meta signs the escaped-unicode bytes it sent: hash those, never re-serialised JSON.
    expected = sign(app_secret, request.body)
    return hmac.compare_digest(header.strip().lower().encode(), expected.encode())
