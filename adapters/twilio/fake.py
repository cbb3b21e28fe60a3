"""A loopback Twilio: the Messages API and Twilio's webhooks, for tests and the sandbox.

`FakeTwilio` serves `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` the way Twilio
does (HTTP Basic auth, form fields, the 201 JSON and the error JSON), records every message
it was asked to send and can be told to fail. Its client helpers play Twilio's side of the
webhooks: they sign the fields with the auth token exactly as Twilio does and post them.

In a test::

    fake = FakeTwilio(account_sid="AC…", auth_token="…")
    base_url = await fake.start()            # e.g. http://127.0.0.1:54321
    # configure the channel with api_base_url = base_url, then send through the gateway
    assert fake.sent[0]["Body"] == "Hello"
    fake.fail_next(code=21211, status=400)   # the next create is refused as Twilio would
    fake.received                            # every request, as `channels.testing` reads them
    fake.canned.append(CannedResponse(503))  # the next request gets this answer instead
    await fake.post_inbound(public_url + "/channels/sms/inbound", "+15550002222", "Hi")
    await fake.stop()

`add_media(bytes, content_type)` hosts a file behind Basic auth, as Twilio hosts MMS media.

In the sandbox, run it beside the daemon (`api_base_url` pointing at it) and set
`auto_status = ("sent", "delivered")` to have it report deliveries to each message's
`StatusCallback`, as Twilio would. Opt-out words posted with `post_inbound` block the pair,
so later sends to that number fail with 21610 just as on Twilio.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import BasicAuth, ClientSession, web
from multidict import MultiDict

from adapters.twilio.inbound import keyword_of
from adapters.twilio.signature import sign
from channels.testing import CannedResponse, ProviderRequest, record_request

API_VERSION = "2010-04-01"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

#: Twilio's own texts for the errors the fake produces
ERROR_TEXTS = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21608: "The number is unverified. Trial accounts cannot send messages to unverified numbers",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21623: "Number of media files exceeds allowed limit of 10.",
}
#: the code Twilio puts in an error body for a bare HTTP status
STATUS_CODES = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}

_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def segments(body: str) -> int:
    """How many SMS segments Twilio bills for a body (GSM-7 160/153, UCS-2 70/67)."""
    if all(c in _GSM or c in _GSM_EXTENDED for c in body):
        length = sum(2 if c in _GSM_EXTENDED else 1 for c in body)
        single, multi = 160, 153
    else:
        length = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if length <= single else math.ceil(length / multi)


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped id: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str | None
    retry_after: float | None
    times: int


@dataclass(frozen=True)
class WebhookReply:
    """What the gateway answered to a webhook the fake posted."""

    status: int
    body: str
    content_type: str
    message_sid: str


class FakeTwilio:
    """Twilio's Messages API on 127.0.0.1, with recorded requests and scripted failures."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "fake-auth-token",
        phone_number: str = "+15550001111",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        #: the business's number: `To` of inbound messages
        self.phone_number = phone_number
        #: every message accepted, as the form fields Twilio received (MediaUrl as a list)
        self.sent: list[dict[str, Any]] = []
        #: every create request, failed ones included
        self.requests: list[dict[str, Any]] = []
        #: every request of any kind, as it arrived (`channels.testing.ProviderFake`)
        self.received: list[ProviderRequest] = []
        #: answers for the next requests, given instead of Twilio's own
        self.canned: list[CannedResponse] = []
        #: seconds to wait before answering a create
        self.delay = 0.0
        #: statuses reported to each accepted message's StatusCallback, in order
        self.auto_status: Sequence[str] = ()
        #: statuses reported (and answered) before the create itself is answered, as Twilio's
        #: callbacks may overtake the API's answer: (status, error code or None)
        self.early_status: Sequence[tuple[str, int | None]] = ()
        #: numbers that sent an opt-out word and are blocked (21610)
        self.opted_out: set[str] = set()
        #: media served at Twilio-shaped URLs (Basic auth required): path -> (bytes, type)
        self.media: dict[str, tuple[bytes, str]] = {}
        self._failures: list[_Failure] = []
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.base_url = ""

    # -- the server -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the API; answers the base URL to configure as `api_base_url`."""
        self._stopping.clear()
        app = web.Application()
        app.router.add_post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json", self._create)
        app.router.add_get(
            f"/{API_VERSION}/Accounts/{{account_sid}}/Messages/{{message_sid}}/Media/{{media_sid}}",
            self._media,
        )
        # no access log: Twilio's logs are not ours to write
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{host}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving and cancel pending status reports."""
        # requests held back by `delay` give up at once rather than hold the shutdown
        self._stopping.set()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add_media(self, content: bytes, content_type: str, message_sid: str | None = None) -> str:
        """Host a media file the way Twilio does; answers its URL for `post_inbound`."""
        path = (
            f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/"
            f"{message_sid or new_sid('MM')}/Media/{new_sid('ME')}"
        )
        self.media[path] = (content, content_type)
        return self.base_url + path

    async def _record(self, request: web.Request) -> web.Response | None:
        """Keep the request; answers the canned response due, if any."""
        canned = await record_request(request, self.received, self.canned)
        if canned is None:
            return None
        return web.Response(
            status=canned.status,
            body=canned.body(),
            content_type=canned.content_type,
            headers=canned.headers,
        )

    async def _media(self, request: web.Request) -> web.Response:
        canned = await self._record(request)
        if canned is not None:
            return canned
        if not self._authorized(request):
            return _error(401, 20003)
        found = self.media.get(request.path)
        if found is None:
            return _error(404, 20404)
        return web.Response(body=found[0], content_type=found[1])

    def fail_next(
        self,
        code: int | None = None,
        status: int = 400,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Refuse the next `times` creates with this HTTP status and Twilio error code."""
        self._failures.append(_Failure(status, code, message, retry_after, times))

    async def _create(self, request: web.Request) -> web.Response:
        canned = await self._record(request)
        form = await request.post()
        fields: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "MediaUrl"}
        fields["MediaUrl"] = [str(v) for v in form.getall("MediaUrl", [])]
        self.requests.append(fields)
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay)
        if canned is not None:
            return canned
        if not self._authorized(request):
            return _error(401, 20003)
        failure = self._next_failure()
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            code = failure.code or STATUS_CODES.get(failure.status, failure.status)
            return _error(failure.status, code, failure.message, headers)
        problem = self._refusal(fields)
        if problem is not None:
            return _error(400, problem)
        sid = new_sid()
        fields["sid"] = sid
        self.sent.append(fields)
        if fields.get("StatusCallback"):
            for status, error_code in self.early_status:
                await self.post_status(fields["StatusCallback"], sid, status, error_code)
            if self.auto_status:
                self._spawn(self._report(fields))
        return web.json_response(self._resource(sid, fields), status=201)

    def _authorized(self, request: web.Request) -> bool:
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            return False
        return (
            auth.login == self.account_sid
            and auth.password == self.auth_token
            and request.match_info["account_sid"] == self.account_sid
        )

    def _next_failure(self) -> _Failure | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.times -= 1
        if failure.times <= 0:
            self._failures.pop(0)
        return failure

    def _refusal(self, fields: dict[str, Any]) -> int | None:
        to, body, media = fields.get("To", ""), fields.get("Body", ""), fields["MediaUrl"]
        if not to:
            return 21604
        if not fields.get("From") and not fields.get("MessagingServiceSid"):
            return 21603
        if not to.startswith("+") or not to[1:].isdigit() or not 8 <= len(to) <= 16:
            return 21211
        if to in self.opted_out:
            return 21610
        if not body and not media:
            return 21602
        if len(body) > 1600:
            return 21617
        if len(media) > 10:
            return 21623
        return None

    def _resource(self, sid: str, fields: dict[str, Any]) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=False)
        service = fields.get("MessagingServiceSid") or None
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": fields.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From") or None,
            "messaging_service_sid": service,
            "num_media": str(len(fields["MediaUrl"])),
            "num_segments": str(segments(fields.get("Body", ""))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": fields.get("To"),
            "uri": f"{uri}.json",
        }

    async def _report(self, fields: dict[str, Any]) -> None:
        for status in self.auto_status:
            await asyncio.sleep(0.05)
            await self.post_status(fields["StatusCallback"], fields["sid"], status)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- Twilio's side of the webhooks ----------------------------------------------------

    async def post_inbound(
        self,
        url: str,
        from_: str,
        body: str,
        media: Sequence[tuple[str, str]] = (),
        *,
        to: str | None = None,
        message_sid: str | None = None,
    ) -> WebhookReply:
        """Post an inbound message to `url` (the gateway's public URL) as Twilio would."""
        sid = message_sid or new_sid("MM" if media else "SM")
        fields: list[tuple[str, str]] = [
            ("ToCountry", "US"),
            ("ToState", ""),
            ("SmsMessageSid", sid),
            ("NumMedia", str(len(media))),
            ("ToCity", ""),
            ("FromZip", ""),
            ("SmsSid", sid),
            ("FromState", ""),
            ("SmsStatus", "received"),
            ("FromCity", ""),
            ("Body", body),
            ("FromCountry", "US"),
            ("To", to or self.phone_number),
            ("ToZip", ""),
            ("NumSegments", str(segments(body))),
            ("MessageSid", sid),
            ("AccountSid", self.account_sid),
            ("From", from_),
            ("ApiVersion", API_VERSION),
        ]
        for n, (media_url, content_type) in enumerate(media):
            fields += [(f"MediaContentType{n}", content_type), (f"MediaUrl{n}", media_url)]
        keyword = keyword_of(body)
        if keyword is not None:
            if keyword[1]:
                self.opted_out.add(from_)
            else:
                self.opted_out.discard(from_)
        return await self._post(url, fields, sid)

    async def post_status(
        self, url: str, message_sid: str, status: str, error_code: int | None = None
    ) -> WebhookReply:
        """Post a status callback for a message as Twilio would."""
        sent = next((m for m in self.sent if m.get("sid") == message_sid), {})
        fields: list[tuple[str, str]] = [
            ("SmsSid", message_sid),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", str(sent.get("To", ""))),
            ("MessageSid", message_sid),
            ("AccountSid", self.account_sid),
            ("From", str(sent.get("From") or self.phone_number)),
            ("ApiVersion", API_VERSION),
        ]
        if sent.get("MessagingServiceSid"):
            fields.append(("MessagingServiceSid", str(sent["MessagingServiceSid"])))
        if error_code is not None:
            fields.append(("ErrorCode", str(error_code)))
        if status in ("delivered", "undelivered"):
            fields.append(("RawDlrDoneDate", datetime.now(UTC).strftime("%y%m%d%H%M")))
        return await self._post(url, fields, message_sid)

    async def _post(self, url: str, fields: list[tuple[str, str]], sid: str) -> WebhookReply:
        signature = sign(self.auth_token, url, MultiDict(fields))
        async with (
            ClientSession() as session,
            session.post(url, data=fields, headers={"X-Twilio-Signature": signature}) as resp,
        ):
            text = await resp.text()
            return WebhookReply(resp.status, text, resp.content_type, sid)


def _error(
    status: int, code: int, message: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "code": code,
        "message": message or ERROR_TEXTS.get(code, "Error"),
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }
    return web.json_response(body, status=status, headers=headers)
