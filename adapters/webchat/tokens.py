"""Stateless visitor tokens: who a web chat visitor is, until when, signed so it cannot be forged.

A token is `<payload>.<mac>`, both base64url without padding. The payload names the
participant (an anonymous visitor id, or the user id the site verified), when the token
expires and the key id it was issued under; the MAC is HMAC-SHA256 over the version, the
channel id and the payload, so a token opens one participant's conversation on one channel
and nothing else.

Expiry slides: `POST sessions` with a valid token answers a fresh one for the same visitor,
and the widget does that on every page load, so a visitor who comes back within the
lifetime keeps their conversation. The key id of an identified visitor's token is a
fingerprint of the channel's `identity_secret`: rotating that secret ends every identified
token at once, and the visitor is identified again. Tokens of the earlier format (without
an expiry) count as expired.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from channels import Participant

_VERSION = "2"
_LEGACY_VERSION = "1"
_MAX_TOKEN = 2048
#: the key id of anonymous visitors' tokens: the channel's installation key alone
ANONYMOUS_KEY_ID = "i"


def new_visitor_id() -> str:
    """A fresh, unguessable anonymous visitor id (`v_` and 22 url-safe characters)."""
    return "v_" + secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Reading:
    """What an authentic token says: whose it is, and whether its lifetime is over."""

    participant: Participant
    expired: bool


class TokenSigner:
    """Issues and reads the tokens of one web chat channel.

    The installation secret is fetched on first use: the host loads it from its database
    after adapters are built.
    """

    def __init__(
        self,
        secret: Callable[[], bytes],
        channel_id: str,
        *,
        identity_secret: str | None = None,
        lifetime: float = 30 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret_source = secret
        self._secret: bytes | None = None
        self._channel_id = channel_id
        self._identity_secret = identity_secret
        self._lifetime = lifetime
        self._clock = clock

    def _key(self) -> bytes:
        if self._secret is None:
            secret = self._secret_source()
            if not secret:
                raise RuntimeError("the installation secret for web chat tokens is not loaded")
            self._secret = secret
        return self._secret

    def _mac(self, version: str, payload: str) -> str:
        message = f"webchat-token:{version}:{self._channel_id}:{payload}".encode()
        return _b64(hmac.new(self._key(), message, hashlib.sha256).digest())

    def identity_key_id(self) -> str | None:
        """The key id of identified tokens: a fingerprint of `identity_secret` (None: unset)."""
        if not self._identity_secret:
            return None
        # keyed with the installation secret, so the id tells nothing about identity_secret
        tag = hmac.new(self._key(), b"identity-key:" + self._identity_secret.encode(), "sha256")
        return "u" + _b64(tag.digest())[:10]

    def issue(self, participant: Participant) -> str:
        """A token for the participant, valid for the channel's token lifetime from now."""
        if participant.anonymous:
            kind, key_id = "a", ANONYMOUS_KEY_ID
        else:
            kind, key_id = "u", self.identity_key_id() or ""
        body = {
            "v": _VERSION,
            "k": kind,
            "id": participant.address,
            "exp": int(self._clock() + self._lifetime),
            "kid": key_id,
        }
        payload = _b64(json.dumps(body, sort_keys=True).encode())
        return f"{payload}.{self._mac(_VERSION, payload)}"

    def read(self, token: str) -> Reading | None:
        """What an authentic token says; None when it is forged, damaged, or was issued under
        an identity secret the channel no longer has."""
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            return None
        payload, mac = token.split(".")
        version = next(
            (
                v
                for v in (_VERSION, _LEGACY_VERSION)
                if hmac.compare_digest(mac.encode(), self._mac(v, payload).encode())
            ),
            None,
        )
        if version is None:
            return None
        try:
            data = json.loads(_unb64(payload))
        except (ValueError, binascii.Error, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("v") != version:
            return None
        kind, address = data.get("k"), data.get("id")
        if kind not in ("a", "u") or not isinstance(address, str) or not address:
            return None
        participant = Participant(address=address, anonymous=kind == "a")
        if version == _LEGACY_VERSION:
            # issued before tokens expired: an anonymous visitor starts afresh, an
            # identified one is identified again
            return Reading(participant, expired=True) if kind == "a" else None
        expires, key_id = data.get("exp"), data.get("kid")
        if not isinstance(expires, int) or isinstance(expires, bool):
            return None
        expected = ANONYMOUS_KEY_ID if kind == "a" else self.identity_key_id()
        if expected is None or key_id != expected:
            return None
        return Reading(participant, expired=self._clock() >= expires)

    def participant(self, token: str) -> Participant | None:
        """The participant of a valid token that has not expired, else None."""
        reading = self.read(token)
        if reading is None or reading.expired:
            return None
        return reading.participant
