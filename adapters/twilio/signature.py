"""Checking `X-Twilio-Signature` on the webhooks Twilio sends us.

The check is Twilio's own (`twilio.request_validator.RequestValidator`): base64 of
HMAC-SHA1(auth token, URL + every field name and value, sorted by name), accepted for the
URL with or without its port. It is done here on the fields parsed once, and with one HMAC
for a request signed as it should be, because every webhook pays for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

from multidict import MultiDict
from twilio.request_validator import add_port, remove_port

from channels import WebhookRequest

SIGNATURE_HEADER = "x-twilio-signature"

Fields = list[tuple[str, str]]


def form_pairs(request: WebhookRequest) -> Fields:
    """Every form field as it arrived, in order, repeated names included."""
    return request.form_pairs()


def form_fields(request: WebhookRequest) -> MultiDict[str]:
    """Every form field as it arrived, repeated names included (Twilio signs them all)."""
    return MultiDict(form_pairs(request))


def signed_fields(request: WebhookRequest, auth_token: str) -> Fields | None:
    """The form fields when Twilio signed this request with the auth token, else None.

    The URL is the one built from the configured public URL, since behind a proxy
    that is the address Twilio called and signed.
    """
    signature = request.header(SIGNATURE_HEADER)
    if not signature:
        return None
    pairs = form_pairs(request)
    fields = _signed_part(pairs)
    url = request.public_url
    if _matches(auth_token, url + fields, signature):
        return pairs
    # Twilio computes some signatures with the default port and some without.
    parsed = urlparse(url)
    other = remove_port(parsed) if parsed.port else add_port(parsed)
    if other != url and _matches(auth_token, other + fields, signature):
        return pairs
    return None


def is_signed(request: WebhookRequest, auth_token: str) -> bool:
    """Whether Twilio signed this request with the account's auth token."""
    return signed_fields(request, auth_token) is not None


def sign(auth_token: str, url: str, fields: MultiDict[str] | Mapping[str, str]) -> str:
    """The signature Twilio would send for these fields posted to `url`."""
    return _digest(auth_token, url + _signed_part(fields.items()))


def _signed_part(pairs: Iterable[tuple[str, str]]) -> str:
    # As Twilio's validator does: names in order, each name's distinct values in order
    # (which is the order of the distinct pairs).
    return "".join(name + value for name, value in sorted(set(pairs)))


def _digest(auth_token: str, payload: str) -> str:
    mac = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _matches(auth_token: str, payload: str, signature: str) -> bool:
    return hmac.compare_digest(_digest(auth_token, payload).encode(), signature.encode())
