"""Send failures, classified once so that the gateway alone decides about retries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass
class SendError(Exception):
    """A send that did not go through.

    `retryable` tells the gateway whether trying again later may succeed; `retry_after`
    (seconds) is the earliest the provider wants to hear from us again. `opted_out` marks the
    recipient as having refused messages on this channel; `config_problem` points at the
    channel's own settings (a revoked token, say), which no retry fixes.
    """

    message: str
    code: str = "SEND_FAILED"
    retryable: bool = False
    retry_after: float | None = None
    opted_out: bool = False
    config_problem: bool = False
    details: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, 86400.0))


def classify_http_status(
    status: int,
    message: str,
    *,
    code: str | None = None,
    retry_after: str | None = None,
) -> SendError:
    """The SendError for an HTTP answer: 429 and 5xx are retryable, other 4xx permanent."""
    retryable = status == 429 or status >= 500 or status == 408
    return SendError(
        message=message,
        code=code or f"HTTP_{status}",
        retryable=retryable,
        retry_after=parse_retry_after(retry_after) if retryable else None,
    )


def network_error(exc: BaseException) -> SendError:
    """A retryable SendError for a connection failure or a timeout."""
    name = type(exc).__name__
    text = str(exc) or name
    code = "TIMEOUT" if "Timeout" in name or isinstance(exc, TimeoutError) else "NETWORK_ERROR"
    return SendError(message=text, code=code, retryable=True)
