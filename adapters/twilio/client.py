"""The `twilio` library's async client, pointed at the configured API host and nowhere else."""

from __future__ import annotations

import contextvars
import logging
from typing import Any
from urllib.parse import urlencode

from multidict import CIMultiDictProxy
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels import basic_auth

#: headers of the last answer in the current task, for `Retry-After` (the library drops them)
_last_headers: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "twilio_last_headers", default=None
)

FORM = "application/x-www-form-urlencoded"


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the library is untyped
    """The library's aiohttp client with less Python per request, since every SMS sent is one.

    The library's own `request` hands aiohttp a dict to encode (aiohttp then builds a form,
    and a multipart writer with a random boundary it never uses), makes a new `BasicAuth`
    each time, builds its INFO log lines even when they are not logged, and drops the
    answer's headers, which an aiohttp trace (two signals per request) would have to catch.
    Here the form is encoded once with `urlencode` (what aiohttp does with such a form, to
    the byte), the `Authorization` header is made once per account, the log lines are built
    only when INFO is on for the library's logger, and the headers are kept for `Retry-After`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._authorizations: dict[tuple[str, str], str] = {}

    def _authorization(self, auth: tuple[str, str]) -> str:
        found = self._authorizations.get(auth)
        if found is None:
            found = self._authorizations[auth] = basic_auth(*auth)
        return found

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = self._authorization(auth)
        body: bytes | None = None
        if data:
            body = urlencode(data, doseq=True).encode()
            sent["Content-Type"] = FORM
        method = method.upper()
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method, "url": url, "params": params, "headers": sent})
        async with self.session.request(
            method,
            url,
            params=params,
            data=body,
            headers=sent,
            timeout=timeout,
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
        _remember_headers(response.headers)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(response.status, response)
        return Response(response.status, text, response.headers)


def build_client(account_sid: str, auth_token: str, api_base_url: str) -> Any:
    """A client with its own aiohttp session; call it inside the running event loop.

    The library's `max_retries` stays unset: it would retry a create that may already have
    gone out, and send the SMS twice. Only the gateway retries.
    """
    # an explicit environment keeps TWILIO_EDGE / TWILIO_REGION from rewriting the host
    client = Client(
        account_sid,
        auth_token,
        http_client=TwilioHttpClient(),
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


def _remember_headers(headers: CIMultiDictProxy[str]) -> None:
    box = _last_headers.get()
    if box is not None:
        box.clear()
        box.update({k.lower(): v for k, v in headers.items()})


async def close_client(client: Any) -> None:
    """Close the client's aiohttp session."""
    await client.http_client.close()
