"""Provider requests as an adapter's routes receive them, built for tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from channels.adapter import WebhookRequest


def form_request(
    path: str,
    fields: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    public_url: str = "http://127.0.0.1:8080",
    headers: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A form-encoded POST as a provider would send it."""
    body = urlencode(list(fields.items()) if isinstance(fields, Mapping) else list(fields))
    all_headers = {"content-type": "application/x-www-form-urlencoded"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return WebhookRequest(
        method="POST",
        path=path,
        query={},
        headers=all_headers,
        body=body.encode(),
        public_url=public_url.rstrip("/") + path,
    )


def json_request(
    path: str,
    body: bytes,
    *,
    public_url: str = "http://127.0.0.1:8080",
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    query: Mapping[str, str] | None = None,
) -> WebhookRequest:
    """A JSON request with the raw body as given (providers sign the exact bytes)."""
    all_headers = {"content-type": "application/json"}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return WebhookRequest(
        method=method,
        path=path,
        query=dict(query or {}),
        headers=all_headers,
        body=body,
        public_url=public_url.rstrip("/") + path,
    )
