"""A provider's side of a send: the requests a loopback fake received and the answers it gives.

An adapter's loopback fake of its provider's HTTP API records every request as a
`ProviderRequest` and, when told, answers the next ones with `CannedResponse`s instead of as
the provider would. Send cases then say which requests the adapter must make
(`ExpectedRequest`) and how the provider answers, without knowing the fake's own controls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.adapter import form_pairs


@dataclass(frozen=True)
class ProviderRequest:
    """One HTTP request as a provider fake received it; headers are keyed in lower case."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def form(self) -> dict[str, list[str]]:
        """The body as form fields, each with every value it was sent with, in order."""
        fields: dict[str, list[str]] = {}
        for name, value in form_pairs(self.body):
            fields.setdefault(name, []).append(value)
        return fields

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def is_json(self) -> bool:
        return self.headers.get("content-type", "").split(";")[0].strip() == "application/json"


@dataclass(frozen=True)
class CannedResponse:
    """An answer a provider fake gives instead of the provider's own, for one request."""

    status: int = 200
    #: a JSON body (sent as application/json); otherwise `text`
    json: Any = None
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the body's media type when it is not the one above (an HTML error page, say)
    media_type: str | None = None

    @property
    def content_type(self) -> str:
        if self.media_type is not None:
            return self.media_type
        return "application/json" if self.json is not None else "text/plain"

    def body(self) -> bytes:
        return (json.dumps(self.json) if self.json is not None else self.text).encode()


class IncomingRequest(Protocol):
    """What a fake's web server hands it (an aiohttp request, say)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    async def read(self) -> bytes: ...


async def record_request(
    request: IncomingRequest, received: list[ProviderRequest], canned: list[CannedResponse]
) -> CannedResponse | None:
    """Keep `request` in `received`; answers the canned response due, if any (taken off)."""
    received.append(
        ProviderRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
    )
    return canned.pop(0) if canned else None


class ProviderFake(Protocol):
    """A loopback fake of a provider's HTTP API, as the harness drives it."""

    #: where it serves, once started: what the adapter's base URL setting points at
    base_url: str
    #: every request it received, oldest first
    received: list[ProviderRequest]
    #: answers for the next requests, in order, before it answers as the provider would
    canned: list[CannedResponse]

    async def start(self) -> str:
        """Serve on a free loopback port; answers the base URL."""
        ...

    async def stop(self) -> None: ...


_MISSING = object()


@dataclass(frozen=True)
class ExpectedRequest:
    """A request an adapter must make: its method, path and the body fields that matter.

    `fields` name form or JSON body fields (and query parameters) with the values they must
    have; fields not named are not checked. For a form, a string is the field's only value, a
    list of strings every value of a repeated field, and anything else is compared with the
    field's value decoded as JSON (form values that carry JSON, as the Graph API's do).
    `absent` names fields the request must not carry at all.
    """

    method: str
    path: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    absent: Sequence[str] = ()

    def differences(self, request: ProviderRequest) -> list[str]:
        """What about `request` is not as expected; empty when it matches."""
        found = []
        if request.method.upper() != self.method.upper() or request.path != self.path:
            found.append(f"{request.method} {request.path}, expected {self.method} {self.path}")
        given = _fields(request)
        for name, wanted in self.fields.items():
            got = _value(given.get(name, _MISSING), wanted, request.is_json())
            if got is _MISSING:
                found.append(f"no field {name!r}")
            elif got != wanted:
                found.append(f"field {name!r} is {got!r}, expected {wanted!r}")
        found.extend(f"field {name!r} was sent" for name in self.absent if name in given)
        return found


def _fields(request: ProviderRequest) -> dict[str, Any]:
    """Query parameters and body fields: JSON values as sent, form fields as value lists."""
    if request.is_json():
        fields: dict[str, Any] = dict(request.query)
        try:
            body = request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            fields.update(body)
        return fields
    fields = {name: [value] for name, value in request.query.items()}
    fields.update(request.form())
    return fields


def _value(given: Any, wanted: Any, from_json: bool) -> Any:
    """The field's value in the shape `wanted` has, for comparing."""
    if given is _MISSING or from_json:
        return given
    values: list[str] = given
    if isinstance(wanted, list | tuple) and all(isinstance(item, str) for item in wanted):
        return type(wanted)(values)
    if isinstance(wanted, str):
        return values[0] if len(values) == 1 else values
    try:
        return json.loads(values[-1])
    except ValueError:
        return values[-1]


def check_requests(
    expected: Sequence[ExpectedRequest], received: Sequence[ProviderRequest]
) -> list[str]:
    """Every way the requests received differ from those expected, in order; empty if none."""
    problems: list[str] = []
    for number, (wanted, request) in enumerate(zip(expected, received, strict=False), start=1):
        problems.extend(f"request {number}: {problem}" for problem in wanted.differences(request))
    if len(received) != len(expected):
        made = ", ".join(f"{r.method} {r.path}" for r in received) or "none"
        problems.append(f"{len(received)} request(s) made, expected {len(expected)} (made: {made})")
    return problems
