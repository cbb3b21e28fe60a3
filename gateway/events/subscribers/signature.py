"""The `X-Inbox-Signature` header of outgoing webhooks, and its check for subscribers."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Inbox-Signature"
#: how far a signature's time may lie from the subscriber's clock before `verify` refuses it
TOLERANCE = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={digest.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, now: int | None = None, tolerance: int = TOLERANCE
) -> bool:
    """Whether a header signs the body with the secret, recently enough."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - t) > tolerance:
        return False
    expected = sign(secret, body, t).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))
