"""The `twilio` library's async client, pointed at the configured API host and nowhere else."""

from __future__ import annotations

import contextvars
from types import SimpleNamespace
from typing import Any

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

#: headers of the last answer in the current task, for `Retry-After` (the library drops them)
_last_headers: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "twilio_last_headers", default=None
)


def build_client(account_sid: str, auth_token: str, api_base_url: str) -> Any:
    """A client with its own aiohttp session; call it inside the running event loop.

    The library's `max_retries` stays unset: it would retry a create that may already have
    gone out, and send the SMS twice. Only the gateway retries.
    """
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_remember_headers)
    http_client = AsyncTwilioHttpClient(trace_configs=[trace])
    # an explicit environment keeps TWILIO_EDGE / TWILIO_REGION from rewriting the host
    client = Client(
        account_sid,
        auth_token,
        http_client=http_client,
        environment={"TWILIO_ACCOUNT_SID": account_sid},
    )
    client.edge = None
    client.region = None
    client.api.base_url = api_base_url.rstrip("/")
    return client


def begin_capture() -> dict[str, str]:
    """A box that the next answer's headers in this task are copied into."""
    box: dict[str, str] = {}
    _last_headers.set(box)
    return box


async def _remember_headers(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestEndParams,
) -> None:
    box = _last_headers.get()
    if box is not None:
        box.clear()
        box.update({k.lower(): v for k, v in params.response.headers.items()})


async def close_client(client: Any) -> None:
    """Close the client's aiohttp session."""
    await client.http_client.close()
