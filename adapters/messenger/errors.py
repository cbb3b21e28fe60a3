"""Classifies Graph API failures into the gateway's retryable and permanent SendErrors."""

from __future__ import annotations

from typing import Any

from channels import SendError, classify_http_status, parse_retry_after

#: Graph codes that say "try again later": 1 unknown, 2 temporary, 4/17/32/613 rate limits
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613})
BAD_TOKEN = 190

# (code, subcode or None for any) -> (our code, what the user reads)
_PERMANENT: dict[tuple[int, int | None], tuple[str, str]] = {
    (551, None): ("PERSON_UNAVAILABLE", "This person isn't available right now on Messenger"),
    (10, 2018278): (
        "OUTSIDE_MESSAGING_WINDOW",
        "Outside the 24-hour messaging window: the person has not written for too long",
    ),
    (100, 2018001): ("NO_SUCH_USER", "No Messenger user with this id for the Page"),
    (BAD_TOKEN, None): (
        "BAD_ACCESS_TOKEN",
        "The Page access token was refused: check the channel's page_access_token",
    ),
}


def graph_error(
    error: Any, *, status: int | None = None, retry_after: str | None = None
) -> SendError:
    """The SendError for a `pyfacebook.FacebookError` (code, error_subcode, message)."""
    code = _int(getattr(error, "code", None))
    subcode = _int(getattr(error, "error_subcode", None))
    graph_message = str(getattr(error, "message", "") or "Graph API error")
    details: dict[str, object] = {"graph_code": code, "graph_subcode": subcode}
    if status is not None:
        details["http_status"] = status
    known = _PERMANENT.get((code, subcode)) if code is not None else None
    if known is None and code is not None:
        known = _PERMANENT.get((code, None))
    if known is not None:
        our_code, text = known
        return SendError(
            message=f"{text} (Graph {code}/{subcode}: {graph_message})",
            code=our_code,
            config_problem=code == BAD_TOKEN,
            details=details,
        )
    transient = bool(getattr(error, "is_transient", False))
    retryable = code in RETRYABLE_CODES or transient or (status is not None and status >= 500)
    return SendError(
        message=f"Graph error {code}/{subcode}: {graph_message}",
        code=f"GRAPH_{code}" if code is not None else "GRAPH_ERROR",
        retryable=retryable,
        retry_after=parse_retry_after(retry_after) if retryable else None,
        details=details,
    )


def unreadable_answer(status: int | None, retry_after: str | None) -> SendError:
    """The SendError for an answer that is not Graph JSON (a proxy's error page, say)."""
    if status is None or status < 400:
        # Unknown outcome: the gateway may retry; a duplicate is better than a lost reply.
        return SendError(
            message="the Graph API gave an unreadable answer",
            code="GRAPH_BAD_ANSWER",
            retryable=True,
        )
    return classify_http_status(
        status, f"the Graph API answered HTTP {status}", retry_after=retry_after
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
