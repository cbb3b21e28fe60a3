"""Twilio's error codes: what they mean to a user, and which ones a retry can fix."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from channels import SendError, parse_retry_after

#: what the well-known codes mean, for the inbox (Twilio's own texts are terser)
MESSAGES: Mapping[int, str] = {
    20003: "Twilio refused the account SID or auth token",
    20429: "Twilio is rate limiting this account",
    21211: "The phone number is not a valid mobile number",
    21408: "The account may not send messages to this region",
    21602: "The message has no text and no media",
    21606: "The sending number cannot send SMS",
    21608: "A trial account can only message verified numbers",
    21610: "The recipient has opted out of messages from this number (they replied STOP)",
    21612: "Twilio cannot route messages between these two numbers",
    21614: "The phone number is not a mobile number",
    21617: "The message is longer than 1600 characters",
    21623: "The message carries more media than MMS allows",
    30003: "The phone is unreachable (switched off or out of coverage)",
    30005: "The phone number is unknown or no longer in service",
    30006: "The number is a landline or its carrier cannot receive messages",
    30007: "The carrier filtered the message (flagged as spam or unregistered traffic)",
    30008: "The carrier reported an unknown error",
}

OPTED_OUT = 21610
RATE_LIMITED = 20429
#: codes that point at the channel's own settings, which no retry fixes
CONFIG_CODES = frozenset({20003, 20404, 21212, 21606, 21659})

_PREFIX = "Unable to create record: "


def error_code(code: int) -> str:
    """The code a delivery error carries for Twilio's numeric code."""
    return f"TWILIO_{code}"


def describe(code: int, twilio_message: str | None = None) -> str:
    """A sentence for a Twilio error code: Twilio's own message, else ours, else the number."""
    if twilio_message:
        return twilio_message
    return MESSAGES.get(code, f"Twilio error {code}")


def send_error(exc: TwilioException, headers: Mapping[str, str] | None = None) -> SendError:
    """Classify a failed create: 429, 20429 and 5xx may be retried; other answers may not."""
    headers = headers or {}
    if isinstance(exc, TwilioRestException):
        status = int(exc.status)
        raw_code = exc.code if isinstance(exc.code, int) else None
        message = str(exc.msg or "").removeprefix(_PREFIX)
    elif isinstance(exc, TwilioServiceException):
        status = int(exc.status)
        raw_code = exc.code if isinstance(exc.code, int) else None
        message = str(exc.detail or exc.title or "")
    else:
        return SendError(message=str(exc) or "Twilio client error", code="TWILIO_ERROR")
    # without a code in the body the library puts the HTTP status there: not a Twilio code
    code = raw_code if raw_code is not None and raw_code != status else None
    retryable = status == 429 or status >= 500 or code == RATE_LIMITED
    retry_after = _retry_after(headers) if retryable else None
    return SendError(
        message=message or (describe(code) if code else f"Twilio answered HTTP {status}"),
        code=error_code(code) if code else f"HTTP_{status}",
        retryable=retryable,
        retry_after=retry_after,
        opted_out=code == OPTED_OUT,
        config_problem=code in CONFIG_CODES or status == 401,
        details={"httpStatus": status, "twilioCode": code} if code else {"httpStatus": status},
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            return parse_retry_after(value)
    return None
