"""Checking `X-Twilio-Signature` on the webhooks Twilio sends us."""

from __future__ import annotations

from urllib.parse import parse_qsl

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels import WebhookRequest

SIGNATURE_HEADER = "x-twilio-signature"


def form_fields(request: WebhookRequest) -> MultiDict[str]:
    """Every form field as it arrived, repeated names included (Twilio signs them all)."""
    text = request.body.decode("utf-8", errors="replace")
    return MultiDict(parse_qsl(text, keep_blank_values=True))


def is_signed(request: WebhookRequest, auth_token: str) -> bool:
    """Whether Twilio signed this request with the account's auth token.

    The URL is the one built from the configured public URL, since behind a proxy
    that is the address Twilio called and signed.
    """
    signature = request.header(SIGNATURE_HEADER)
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    return bool(validator.validate(request.public_url, form_fields(request), signature))


def sign(auth_token: str, url: str, fields: MultiDict[str] | dict[str, str]) -> str:
    """The signature Twilio would send for these fields posted to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, fields))
