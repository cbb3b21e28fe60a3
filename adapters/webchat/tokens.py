"""Stateless visitor tokens: who a web chat visitor is, signed so it cannot be forged.

A token is `<payload>.<mac>`, both base64url without padding. The payload names the
participant (an anonymous visitor id, or the user id the site verified); the MAC is
HMAC-SHA256 over the channel id and the payload, so a token opens one participant's
conversation on one channel and nothing else. Tokens carry no expiry: an anonymous visitor
keeps their conversation for as long as the browser keeps the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable

from channels import Participant

_VERSION = "1"
_MAX_TOKEN = 2048


def new_visitor_id() -> str:
    """A fresh, unguessable anonymous visitor id (`v_` and 22 url-safe characters)."""
    return "v_" + secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and reads the tokens of one web chat channel.

    The secret is fetched on first use: the host loads the installation secret from its
    database after adapters are built.
    """

    def __init__(self, secret: Callable[[], bytes], channel_id: str) -> None:
        self._secret_source = secret
        self._secret: bytes | None = None
        self._channel_id = channel_id

    def _key(self) -> bytes:
        if self._secret is None:
            secret = self._secret_source()
            if not secret:
                raise RuntimeError("the installation secret for web chat tokens is not loaded")
            self._secret = secret
        return self._secret

    def _mac(self, payload: str) -> str:
        message = f"webchat-token:{_VERSION}:{self._channel_id}:{payload}".encode()
        return _b64(hmac.new(self._key(), message, hashlib.sha256).digest())

    def issue(self, participant: Participant) -> str:
        """The token of a participant; the same participant always gets the same token."""
        kind = "a" if participant.anonymous else "u"
        body = json.dumps({"v": _VERSION, "k": kind, "id": participant.address}, sort_keys=True)
        payload = _b64(body.encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, token: str) -> Participant | None:
        """The participant a token was issued to, or None when it is forged or damaged."""
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            return None
        payload, mac = token.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return None
        kind, address = data.get("k"), data.get("id")
        if kind not in ("a", "u") or not isinstance(address, str) or not address:
            return None
        return Participant(address=address, anonymous=kind == "a")
