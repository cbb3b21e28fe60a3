"""A loopback fake of the Graph API's Send and profile endpoints, and a fake Meta webhook sender.

For tests and the sandbox; it speaks the wire, so the real `python-facebook-api` client runs
against it unchanged::

    fake = FakeGraph(access_token="page-token", app_secret="app-secret")
    base_url = await fake.start()            # "http://127.0.0.1:<port>"; graph_base_url
    ...                                      # send through the adapter
    fake.sent                                # [{"recipient", "messaging_type", "tag",
                                             #   "message", "metadata", "message_id",
                                             #   "timestamp"}, ...] accepted sends;
                                             # timestamp: Meta's, in ms
    fake.fail_next(code=613, times=2)        # the next two calls fail like Graph does
    fake.delay = 2.0                         # every answer comes this late
    fake.received                            # every request, as `channels.testing` reads them
    fake.canned.append(CannedResponse(502))  # the next request gets this answer instead
    fake.profiles["PSID"] = {"first_name": "Ada", "last_name": "L", "profile_pic": "https://…"}
    fake.echo_url = webhook_url              # echo each send there before answering it
    await fake.stop()

Served, always with `Content-Type: application/json` (the library refuses anything else):

- `POST /{version}/me/messages`: JSON or form-encoded bodies (form values that are objects
  are JSON strings, as the library sends them). Answers `{"recipient_id", "message_id": "m_…"}`
  or Graph's error shape `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`
  with the HTTP status Graph uses. Checks the access token (190 otherwise), the
  `appsecret_proof` when an app secret is set, and the Send API's limits (error 100).
- `GET /{version}/{psid}?fields=…`: a configured profile, or error 100/33 for an unknown id.

Webhook side, for driving a gateway the way Meta does: builders for `messaging[]` events
(`message_event`, `attachment_event`, `postback_event`, `quick_reply_event`,
`delivery_event`, `read_event`, `echo_event`, `reaction_event`), `page_body` to wrap them
in `{"object": "page", "entry": [...]}`, and `post_event` / `post_events` to POST them with a
valid `X-Hub-Signature-256` (one POST for many events, as Meta batches them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from channels.testing import CannedResponse, ProviderRequest, record_request

DEFAULT_PAGE_ID = "1234567890"
#: the app id Meta gives echoes of messages written in the Page's own inbox
PAGE_INBOX_APP_ID = 263902037430900
#: the app id the fake gives echoes of messages sent through its Send API
SENDING_APP_ID = 555000111
MESSAGING_TYPES = {"RESPONSE", "UPDATE", "MESSAGE_TAG"}
TAGS = {"HUMAN_AGENT", "CUSTOMER_FEEDBACK", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"}

# code -> (HTTP status, type, message) as Graph answers them
_ERRORS: dict[int, tuple[int, str, str]] = {
    1: (500, "OAuthException", "An unknown error occurred"),
    2: (
        503,
        "OAuthException",
        "An unexpected error has occurred. Please retry your request later.",
    ),
    4: (400, "OAuthException", "(#4) Application request limit reached"),
    10: (400, "OAuthException", "(#10) This message is sent outside of allowed window."),
    100: (400, "OAuthException", "(#100) Invalid parameter"),
    190: (400, "OAuthException", "Invalid OAuth access token - Cannot parse access token"),
    551: (400, "OAuthException", "(#551) This person isn't available right now."),
    613: (400, "OAuthException", "(#613) Calls to this api have exceeded the rate limit."),
}


@dataclass
class _Failure:
    code: int
    subcode: int | None
    status: int | None
    message: str | None
    times: int


class FakeGraph:
    """The Graph API's Send and profile endpoints on 127.0.0.1, with scripted failures."""

    def __init__(
        self,
        *,
        access_token: str = "fake-page-token",
        app_secret: str | None = "fake-app-secret",
        version: str = "v24.0",
        profiles: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.access_token = access_token
        self.app_secret = app_secret
        self.version = version
        self.profiles: dict[str, dict[str, str]] = {k: dict(v) for k, v in (profiles or {}).items()}
        #: accepted sends, decoded
        self.sent: list[dict[str, Any]] = []
        #: every Send API call that reached the fake, accepted or not, decoded
        self.attempts: list[dict[str, Any]] = []
        #: every request of any kind, as it arrived (`channels.testing.ProviderFake`)
        self.received: list[ProviderRequest] = []
        #: answers for the next requests, given instead of the Graph API's own
        self.canned: list[CannedResponse] = []
        #: seconds to wait before each answer
        self.delay = 0.0
        #: a webhook URL: each accepted send is echoed there (signed) before it is answered,
        #: which Meta may do too, with `echo_app_id` as the sending app's id
        self.echo_url: str | None = None
        self.echo_app_id = SENDING_APP_ID
        self.page_id = DEFAULT_PAGE_ID
        self._failures: list[_Failure] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve; answers the base URL to use as `graph_base_url`."""
        app = web.Application()
        app.router.add_post("/{version}/me/messages", self._messages)
        app.router.add_get("/{version}/{object_id}", self._profile)
        # no access log: the Graph API's request lines carry the token, and its logs are not ours
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{host}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail_next(
        self,
        code: int,
        *,
        subcode: int | None = None,
        status: int | None = None,
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` calls with Graph error `code`/`subcode`."""
        self._failures.append(_Failure(code, subcode, status, message, times))

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

    async def _messages(self, request: web.Request) -> web.Response:
        canned = await self._record(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if canned is not None:
            return canned
        fields = await _fields(request)
        message = fields.get("message")
        # metadata is for the sender's echoes only: kept beside what the person is shown
        metadata = message.pop("metadata", None) if isinstance(message, dict) else None
        record = {
            "recipient": fields.get("recipient"),
            "messaging_type": fields.get("messaging_type"),
            "tag": fields.get("tag"),
            "message": message,
            "metadata": metadata,
        }
        self.attempts.append(record)
        refused = self._refusal(request, fields) or _invalid_send(fields)
        if refused is not None:
            return refused
        if request.match_info["version"] != self.version:
            return _error(100, message=f"Unknown version {request.match_info['version']}")
        recipient = fields["recipient"]["id"]
        message_id = "m_" + secrets.token_urlsafe(24)
        timestamp = _now_ms()
        # Meta's time for the message: what its echo's `timestamp` and later watermarks carry
        self.sent.append({**record, "message_id": message_id, "timestamp": timestamp})
        if self.echo_url is not None:
            echoed = dict(fields["message"])
            if metadata is not None:
                echoed["metadata"] = metadata
            await self._echo(self.echo_url, recipient, message_id, timestamp, echoed)
        return _json({"recipient_id": recipient, "message_id": message_id})

    async def _echo(
        self, url: str, psid: str, mid: str, timestamp: int, message: Mapping[str, Any]
    ) -> None:
        if self.app_secret is None:
            raise RuntimeError("echoes are signed with the app secret: set one")
        echoed = {
            **{k: v for k, v in message.items() if k != "quick_replies"},
            "mid": mid,
            "is_echo": True,
            "app_id": self.echo_app_id,
        }
        event = {**_event(psid, self.page_id, timestamp, echo=True), "message": echoed}
        await post_event(url, self.app_secret, event, page_id=self.page_id)

    async def _profile(self, request: web.Request) -> web.Response:
        canned = await self._record(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if canned is not None:
            return canned
        refused = self._refusal(request, dict(request.query))
        if refused is not None:
            return refused
        psid = request.match_info["object_id"]
        profile = self.profiles.get(psid)
        if profile is None:
            return _error(
                100,
                subcode=33,
                message=f"Unsupported get request. Object with ID '{psid}' does not exist",
            )
        wanted = [f for f in request.query.get("fields", "").split(",") if f]
        answer = {k: v for k, v in profile.items() if not wanted or k in wanted}
        return _json({**answer, "id": psid})

    def _refusal(self, request: web.Request, fields: Mapping[str, Any]) -> web.Response | None:
        token = fields.get("access_token") or request.query.get("access_token")
        if token != self.access_token:
            return _error(190)
        if self.app_secret is not None:
            expected = hmac.new(
                self.app_secret.encode(), str(token).encode(), hashlib.sha256
            ).hexdigest()
            proof = fields.get("appsecret_proof") or request.query.get("appsecret_proof")
            if not isinstance(proof, str) or not hmac.compare_digest(proof, expected):
                return _error(100, message="Invalid appsecret_proof provided in the API argument")
        if self._failures:
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return _error(
                failure.code,
                subcode=failure.subcode,
                status=failure.status,
                message=failure.message,
            )
        return None


async def _fields(request: web.Request) -> dict[str, Any]:
    """The body's fields; JSON-string form values decoded as Graph does."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    fields: dict[str, Any] = {}
    for key, value in (await request.post()).items():
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                fields[key] = json.loads(value)
                continue
            except ValueError:
                pass
        fields[key] = value
    return fields


def _invalid_send(fields: Mapping[str, Any]) -> web.Response | None:
    """Error 100 for a body the real Send API would refuse, else None."""
    recipient = fields.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        return _error(100, message="(#100) The parameter recipient is required")
    kind = fields.get("messaging_type")
    if kind not in MESSAGING_TYPES:
        return _error(
            100,
            message="(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}",
        )
    if kind == "MESSAGE_TAG" and fields.get("tag") not in TAGS:
        return _error(100, message="(#100) Tag is required and must be valid for MESSAGE_TAG")
    message = fields.get("message")
    if not isinstance(message, dict) or (("text" in message) == ("attachment" in message)):
        return _error(100, message="(#100) Must send either text or attachment")
    problem = _message_problem(message)
    return _error(100, message=f"(#100) {problem}") if problem else None


def _message_problem(message: Mapping[str, Any]) -> str | None:
    text = message.get("text")
    if "text" in message and (not isinstance(text, str) or not text or len(text) > 2000):
        return "Length of param message[text] must be less than or equal to 2000"
    replies = message.get("quick_replies", [])
    if len(replies) > 13 or any(len(r.get("title", "")) > 20 for r in replies):
        return "param message[quick_replies] must have at most 13 items with titles of 20 chars"
    attachment = message.get("attachment")
    if isinstance(attachment, dict):
        payload = attachment.get("payload") or {}
        if attachment.get("type") == "template":
            elements = payload.get("elements") or []
            if not 1 <= len(elements) <= 10:
                return "param elements must have between 1 and 10 elements"
            for element in elements:
                if not element.get("title") or len(element["title"]) > 80:
                    return "param elements[0][title] must be a non-empty UTF-8 encoded string"
                if len(element.get("subtitle", "")) > 80 or len(element.get("buttons", [])) > 3:
                    return "param elements[0] has too long a subtitle or too many buttons"
        elif attachment.get("type") not in ("image", "video", "audio", "file"):
            return "param message[attachment][type] must be one of image, video, audio, file"
        elif not payload.get("url"):
            return "param message[attachment][payload][url] is required"
    return None


def _error(
    code: int, *, subcode: int | None = None, status: int | None = None, message: str | None = None
) -> web.Response:
    default_status, kind, default_message = _ERRORS.get(code, (400, "OAuthException", "Error"))
    error: dict[str, Any] = {
        "message": message or default_message,
        "type": kind,
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(10),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return _json({"error": error}, status=status or default_status)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


# --- the webhook side: events as Meta posts them --------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


def _mid() -> str:
    return "m_" + secrets.token_urlsafe(32)


def _event(psid: str, page_id: str, timestamp: int | None, *, echo: bool = False) -> dict[str, Any]:
    sender, recipient = (page_id, psid) if echo else (psid, page_id)
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": timestamp if timestamp is not None else _now_ms(),
    }


def message_event(
    psid: str,
    text: str,
    mid: str | None = None,
    *,
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A person's text message."""
    return {**_event(psid, page_id, timestamp), "message": {"mid": mid or _mid(), "text": text}}


def attachment_event(
    psid: str,
    kind: str,
    url: str,
    mid: str | None = None,
    *,
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
    sticker_id: int | None = None,
) -> dict[str, Any]:
    """A person's attachment (image, video, audio, file; a sticker with `sticker_id`)."""
    payload: dict[str, Any] = {"url": url}
    message: dict[str, Any] = {
        "mid": mid or _mid(),
        "attachments": [{"type": kind, "payload": payload}],
    }
    if sticker_id is not None:
        payload["sticker_id"] = sticker_id
        message["sticker_id"] = sticker_id
    return {**_event(psid, page_id, timestamp), "message": message}


def quick_reply_event(
    psid: str,
    text: str,
    payload: str,
    mid: str | None = None,
    *,
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A tap on a quick reply: its title as text, its payload alongside."""
    return {
        **_event(psid, page_id, timestamp),
        "message": {"mid": mid or _mid(), "text": text, "quick_reply": {"payload": payload}},
    }


def postback_event(
    psid: str,
    title: str,
    payload: str,
    mid: str | None = None,
    *,
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A tap on a postback button of a card."""
    return {
        **_event(psid, page_id, timestamp),
        "postback": {"mid": mid or _mid(), "title": title, "payload": payload},
    }


def delivery_event(
    psid: str,
    mids: Sequence[str] | None,
    watermark: int,
    *,
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Meta's delivery news: everything sent before `watermark` (ms) reached the person."""
    delivery: dict[str, Any] = {"watermark": watermark}
    if mids is not None:
        delivery["mids"] = list(mids)
    return {**_event(psid, page_id, timestamp), "delivery": delivery}


def read_event(
    psid: str, watermark: int, *, page_id: str = DEFAULT_PAGE_ID, timestamp: int | None = None
) -> dict[str, Any]:
    """The person read everything sent before `watermark` (ms)."""
    return {**_event(psid, page_id, timestamp), "read": {"watermark": watermark}}


def echo_event(
    psid: str,
    text: str,
    mid: str | None = None,
    *,
    app_id: int | None = PAGE_INBOX_APP_ID,
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The echo of a message the Page sent to `psid` (by default, from the Page's inbox)."""
    message: dict[str, Any] = {"mid": mid or _mid(), "is_echo": True, "text": text}
    if app_id is not None:
        message["app_id"] = app_id
    return {**_event(psid, page_id, timestamp, echo=True), "message": message}


def reaction_event(
    psid: str,
    mid: str,
    emoji: str = "\u2764",
    *,
    action: str = "react",
    page_id: str = DEFAULT_PAGE_ID,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The person reacted to message `mid`."""
    reaction = {"reaction": "love", "emoji": emoji, "action": action, "mid": mid}
    return {**_event(psid, page_id, timestamp), "reaction": reaction}


def page_body(
    events: Sequence[Mapping[str, Any]], *, page_id: str = DEFAULT_PAGE_ID
) -> dict[str, Any]:
    """Events as Meta batches them: one entry per event, each with a one-event `messaging`."""
    return {
        "object": "page",
        "entry": [
            {"id": page_id, "time": _now_ms(), "messaging": [dict(event)]} for event in events
        ],
    }


def signed_body(app_secret: str, body: Mapping[str, Any]) -> tuple[bytes, str]:
    """The bytes Meta sends (unicode escaped) and their `X-Hub-Signature-256` value."""
    raw = json.dumps(body).encode()
    return raw, "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


async def post_event(
    url: str, app_secret: str, messaging_event: Mapping[str, Any], *, page_id: str = DEFAULT_PAGE_ID
) -> tuple[int, str]:
    """POST one signed event to a webhook URL; answers (status, body)."""
    return await post_events(url, app_secret, [messaging_event], page_id=page_id)


async def post_events(
    url: str,
    app_secret: str,
    messaging_events: Sequence[Mapping[str, Any]],
    *,
    page_id: str = DEFAULT_PAGE_ID,
) -> tuple[int, str]:
    """POST several signed events in one request, as Meta batches them; answers (status, body)."""
    raw, signature = signed_body(app_secret, page_body(messaging_events, page_id=page_id))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=raw, headers=headers) as response,
    ):
        return response.status, await response.text()
