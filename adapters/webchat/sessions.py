"""`POST sessions`: a visitor's token and conversation, anonymous or verified by the site.

With a valid token the answer is a fresh token for the same visitor (expiry slides); with an
anonymous token past its lifetime, a new visitor and conversation.

Only pages on an allowed origin may open sessions. A request without an `Origin` header is
refused too: browsers always send one with a `fetch` POST, so a missing header means a
client that is not the widget; such clients can send `Origin` like a browser would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.webchat.limits import ChannelLimits, client_of
from adapters.webchat.message_keys import carried_key
from adapters.webchat.origins import OriginPolicy
from adapters.webchat.tokens import TokenSigner, new_visitor_id
from channels import ChannelHost, Participant, VerifiedIdentity, WebhookRequest, WebhookResponse

_Short = Field(default=None, min_length=1, max_length=255)


class IdentityIn(BaseModel):
    """The person the site vouches for, signed with the shared `identity_secret`."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(alias="userId", min_length=1, max_length=255)
    name: str | None = _Short
    email: str | None = _Short
    phone: str | None = _Short
    signature: str = Field(min_length=1, max_length=256)


class SessionIn(BaseModel):
    """The body of `POST sessions`."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, max_length=2048)
    identity: IdentityIn | None = None


def _error(status: int, code: str, description: str, headers: dict[str, str]) -> WebhookResponse:
    error = {"code": code, "description": description}
    body = {"message": description, "details": {"applicationError": error}}
    return WebhookResponse(
        status=status, body=json.dumps(body), content_type="application/json", headers=headers
    )


def _too_many(wait: float, headers: dict[str, str]) -> WebhookResponse:
    retry = str(max(1, math.ceil(wait)))
    text = "too many new chat sessions from this address; try again later"
    return _error(
        429,
        "RATE_LIMITED",
        text,
        {**headers, "Retry-After": retry, "Access-Control-Expose-Headers": "Retry-After"},
    )


def _invalid(exc: ValidationError, headers: dict[str, str]) -> WebhookResponse:
    violations = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "description": e["msg"]}
        for e in exc.errors()
    ]
    details = {"validationError": {"fieldViolations": violations}}
    body = {"message": "invalid request", "details": details}
    return WebhookResponse(
        status=400, body=json.dumps(body), content_type="application/json", headers=headers
    )


def signature_ok(secret: str | None, user_id: str, signature: str) -> bool:
    """Whether `signature` is hex HMAC-SHA256(secret, user_id), compared in constant time."""
    if not secret:
        return False
    expected = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


class SessionEndpoint:
    """Answers the widget's preflight and session requests."""

    def __init__(
        self,
        host: ChannelHost,
        origins: OriginPolicy,
        signer: TokenSigner,
        identity_secret: str | None,
        limits: ChannelLimits,
    ) -> None:
        self._host = host
        self._limits = limits
        self._origins = origins
        self._signer = signer
        self._identity_secret = identity_secret

    @staticmethod
    def _carrier(previous: Participant, participant: Participant) -> Callable[[str], str]:
        """How the anonymous visitor's message keys read as the identified person's."""
        return lambda key: carried_key(key, previous.address, participant.address)

    def _cors(self, request: WebhookRequest) -> dict[str, str] | None:
        origin = request.header("origin")
        if not self._origins.allows(origin):
            return None
        assert origin is not None
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }

    def _refused(self, request: WebhookRequest) -> WebhookResponse:
        if request.header("origin"):
            text = "this site is not allowed to open chat sessions (see allowed_origins)"
        else:
            text = "an Origin header is required"
        return _error(403, "ORIGIN_NOT_ALLOWED", text, {"Vary": "Origin"})

    async def preflight(self, request: WebhookRequest) -> WebhookResponse:
        """`OPTIONS sessions`: the CORS preflight of the widget's POST."""
        cors = self._cors(request)
        if cors is None:
            return self._refused(request)
        return WebhookResponse(status=204, headers=cors)

    async def open(self, request: WebhookRequest) -> WebhookResponse:
        """`POST sessions`: a token and the conversation it opens."""
        cors = self._cors(request)
        if cors is None:
            return self._refused(request)
        try:
            raw: Any = json.loads(request.body) if request.body.strip() else {}
        except (ValueError, RecursionError):
            return _error(400, "INVALID_JSON", "the body is not JSON", cors)
        if not isinstance(raw, dict):
            return _error(400, "INVALID_JSON", "the body must be a JSON object", cors)
        try:
            body = SessionIn.model_validate(raw, strict=True)
        except ValidationError as exc:
            return _invalid(exc, cors)

        current: Participant | None = None
        if body.token is not None:
            reading = self._signer.read(body.token)
            if reading is None or (reading.expired and not reading.participant.anonymous):
                # forged, or of an identity secret since rotated, or an identified visitor's
                # token past its lifetime: the site identifies the visitor again
                return _error(403, "INVALID_TOKEN", "the token is not valid here", cors)
            if not reading.expired:
                current = reading.participant
            # an anonymous token past its lifetime starts a new conversation

        if current is None or body.identity is not None:
            # a new visitor, or one being identified: either may create rows, so it counts
            wait = await self._limits.new_session(client_of(request))
            if wait is not None:
                return _too_many(wait, cors)

        if body.identity is None:
            participant = current or Participant(address=new_visitor_id(), anonymous=True)
            session = await self._host.open_session(participant)
        else:
            identity = body.identity
            if not signature_ok(self._identity_secret, identity.user_id, identity.signature):
                return _error(403, "INVALID_IDENTITY", "the identity signature is not valid", cors)
            participant = Participant(
                address=identity.user_id, display_name=identity.name, anonymous=False
            )
            verified = VerifiedIdentity(
                user_id=identity.user_id,
                name=identity.name,
                email=identity.email,
                phone=identity.phone,
            )
            # Only an anonymous visitor becomes the identified person; a token of another
            # identified user (a shared computer) must not hand their conversation over.
            previous = current if current is not None and current.anonymous else None
            session = await self._host.open_session(
                participant,
                verified=verified,
                previous=previous,
                carry_id=None if previous is None else self._carrier(previous, participant),
            )

        answer = {
            "token": self._signer.issue(participant),
            "conversationId": session.conversation_id,
            session.participant_kind: session.participant_id,
        }
        return WebhookResponse(
            status=200, body=json.dumps(answer), content_type="application/json", headers=cors
        )
