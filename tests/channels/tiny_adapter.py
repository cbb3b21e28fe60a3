"""A toy adapter and a loopback fake of its provider, for testing the public harness itself.

The adapter takes JSON `{"id", "from", "text"}` or `{"status", "ref"}` with a token header, and
sends `{"to", "text"}` to `<api_url>/messages` with the token as a Bearer header (in memory
when no `api_url` is set). Its `faults` switch on one misbehaviour each, to prove the
harness notices.
"""

from __future__ import annotations

import builtins
import hmac
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

import aiohttp
from aiohttp import web

from channels import (
    Capabilities,
    ChannelConfig,
    ChannelType,
    InboundEvent,
    InboundMessage,
    MessageContent,
    OutboundPart,
    Participant,
    Route,
    SendError,
    SendResult,
    StatusUpdate,
    TextPart,
    WebhookRequest,
    WebhookResponse,
    classify_http_status,
    network_error,
)
from channels.testing import (
    AdapterKit,
    CannedResponse,
    ProviderRequest,
    RecordingHost,
    SendCase,
    json_request,
)

SECRET = "s3cr3t-token-value"
log = logging.getLogger("tiny_adapter")
#: stands for a vendor library's logger: quiet by default and not propagating
vendor_log = logging.getLogger("tinyvendor.http")
vendor_log.setLevel(logging.WARNING)
vendor_log.propagate = False


class TinyConfig(ChannelConfig):
    token: str
    api_url: str = ""


class TinyAdapter:
    """A toy transport (see the module docstring)."""

    type: ClassVar[str] = "tiny"
    channel_type: ClassVar[ChannelType] = ChannelType.EMAIL
    Config: ClassVar[builtins.type[ChannelConfig]] = TinyConfig
    default_rate_per_second: ClassVar[float | None] = None

    def __init__(self, config: TinyConfig, host: RecordingHost, faults: Sequence[str] = ()) -> None:
        self.config, self.host, self.faults = config, host, set(faults)
        self.counter = 0
        self.http: aiohttp.ClientSession | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(text_limit=100)

    def routes(self) -> Sequence[Route]:
        return [Route("POST", "inbound", self.inbound)]

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def lookup_profile(self, address: str) -> Participant | None:
        if "log-secret-in-profile" in self.faults:
            vendor_log.debug("GET /people/%s?token=%s", address, self.config.token)
        return None

    async def inbound(self, request: WebhookRequest) -> WebhookResponse:
        if "log-secret" in self.faults:
            log.info("checking token %s", self.config.token)
        given = request.header("x-token") or ""
        if "accept-unsigned" not in self.faults and not hmac.compare_digest(
            given, self.config.token
        ):
            return WebhookResponse.error(403, "bad token")
        try:
            data = json.loads(request.body)
            events: list[InboundEvent]
            if "status" in data:
                events = [StatusUpdate(status=data["status"], provider_message_id=data["ref"])]
            else:
                self.counter += 1
                message_id = (
                    f"{data['id']}-{self.counter}" if "unstable-id" in self.faults else (data["id"])
                )
                events = [
                    InboundMessage(
                        provider_message_id=message_id,
                        participant=Participant(address=data["from"]),
                        content=MessageContent.of_text(data["text"]),
                        occurred_at=datetime.now(UTC),
                    )
                ]
        except (ValueError, KeyError, TypeError) as exc:
            if "crash-on-malformed" in self.faults:
                return WebhookResponse.error(500, "oops")
            log.info("malformed body: %s", exc)
            return WebhookResponse.error(400, "malformed body")
        await self.host.ingest(events)
        return WebhookResponse.json({"ok": True})

    async def send(self, part: OutboundPart) -> SendResult:
        if part.recipient == "busy":
            raise SendError("try later", code="BUSY", retryable=True, retry_after=5)
        if part.recipient == "nobody":
            raise SendError("no such address", code="NO_SUCH_ADDRESS")
        if not self.config.api_url:
            return SendResult(provider_message_id=f"tiny-{part.message_id}-{part.index}")
        assert self.http is not None and isinstance(part.part, TextPart)
        headers = {"Authorization": f"Bearer {self.config.token}"}
        if "log-secret-when-sending" in self.faults:
            vendor_log.debug("sending with headers %s", headers)
        try:
            async with self.http.post(
                self.config.api_url + "/messages",
                json={"to": part.recipient, "text": part.part.text},
                headers=headers,
            ) as response:
                answer = await response.json(content_type=None)
                if response.status >= 400:
                    raise classify_http_status(
                        response.status,
                        str(answer.get("error")),
                        retry_after=response.headers.get("Retry-After"),
                    )
        except (aiohttp.ClientError, OSError) as exc:
            raise network_error(exc) from exc
        return SendResult(provider_message_id=str(answer["id"]))


class TinyProvider:
    """The toy provider's API on loopback: records every request, answers canned ones first."""

    def __init__(self) -> None:
        self.base_url = ""
        self.received: list[ProviderRequest] = []
        self.canned: list[CannedResponse] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/messages", self._messages)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            ProviderRequest(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        if self.canned:
            canned = self.canned.pop(0)
            return web.Response(
                status=canned.status,
                body=canned.body(),
                content_type=canned.content_type,
                headers=canned.headers,
            )
        return web.json_response({"id": f"tp-{len(self.received)}"})


def make(*faults: str, api_url: str = "") -> tuple[TinyAdapter, RecordingHost]:
    host = RecordingHost(channel_id="tiny")
    config = TinyConfig(type="tiny", token=SECRET, api_url=api_url)
    return TinyAdapter(config, host, faults), host


def request(body: object, token: str | None = SECRET) -> WebhookRequest:
    headers = {"X-Token": token} if token is not None else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return json_request("/channels/tiny/inbound", raw, headers=headers)


def part(text: str = "hi", to: str = "ann@example.com") -> OutboundPart:
    return OutboundPart(TextPart(text), to, "msg-1", "conv-1")


MESSAGE = {"id": "m1", "from": "ann@example.com", "text": "hello"}


def kit(*faults: str, **changes: object) -> AdapterKit:
    """The toy adapter's kit, with its faults switched on."""

    def build(host: RecordingHost, provider_url: str | None) -> TinyAdapter:
        config = TinyConfig(type="tiny", token=SECRET, api_url=provider_url or "")
        return TinyAdapter(config, host, faults)

    settings: dict[str, object] = {
        "name": "tiny",
        "build": build,
        "secrets": [SECRET],
        "message": request(MESSAGE),
        "unsigned": [request(MESSAGE, token=None), request(MESSAGE, token="guess")],
        "malformed": [request(b"{nope"), request({"id": "m2"})],
        "sends": [
            SendCase("a text", part()),
            SendCase(
                "refused",
                part(),
                responses=[CannedResponse(400, {"error": "no"})],
                retryable=False,
            ),
        ],
        "profile_address": "ann@example.com",
        "provider": TinyProvider,
        "host": lambda: RecordingHost(channel_id="tiny"),
    }
    settings.update(changes)
    return AdapterKit(**settings)  # type: ignore[arg-type]
