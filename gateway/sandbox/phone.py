"""The sandbox's pages: a "phone" playing SMS and Messenger customers, and a web chat demo.

The phone posts signed webhooks through the fakes, exactly as Twilio and Meta would, and shows
what the fakes were asked to send. A Messenger customer with the page open reports deliveries
and reads, as the Messenger app does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from aiohttp import web

from gateway.clock import now, rfc3339
from gateway.domain.errors import Refused
from gateway.sandbox.fakes import PAGE_ID, fake_module
from gateway.state import GATEWAY
from gateway.web.request_text import read_json_object

STATIC = {
    "phone.html": "text/html; charset=utf-8",
    "demo.html": "text/html; charset=utf-8",
    "phone.js": "application/javascript; charset=utf-8",
    "phone.css": "text/css; charset=utf-8",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' https: http: data:; connect-src 'self'; base-uri 'none'; object-src 'none'"
)


@dataclass
class Phone:
    """What each pretend customer sent and received, in order."""

    twilio: Any
    graph: Any
    sms: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    messenger: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sms_seen: int = 0
    messenger_seen: int = 0
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def collect(self) -> None:
        """File whatever the fakes were asked to send since the last look."""
        for sent in self.twilio.sent[self.sms_seen :]:
            self.sms.setdefault(sent.get("To", ""), []).append(
                {
                    "from": "business",
                    "text": sent.get("Body", ""),
                    "media": list(sent.get("MediaUrl", [])),
                    "time": rfc3339(now()),
                }
            )
        self.sms_seen = len(self.twilio.sent)
        for sent in self.graph.sent[self.messenger_seen :]:
            psid = (sent.get("recipient") or {}).get("id", "")
            self.messenger.setdefault(psid, []).append(
                {
                    "from": "business",
                    "message": sent.get("message"),
                    "mid": sent.get("message_id"),
                    "tag": sent.get("tag"),
                    "time": rfc3339(now()),
                    "reported": False,
                }
            )
        self.messenger_seen = len(self.graph.sent)


PHONE = web.AppKey("sandbox_phone", Phone)


def _asset(name: str) -> web.Response:
    body = files("gateway.sandbox").joinpath("static", name).read_bytes()
    return web.Response(
        body=body,
        headers={
            "Content-Type": STATIC[name],
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


async def demo(_: web.Request) -> web.Response:
    return _asset("demo.html")


async def phone_page(_: web.Request) -> web.Response:
    return _asset("phone.html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return _asset(name)


def _public(request: web.Request, path: str) -> str:
    return request.app[GATEWAY].config.gateway.public_url + path


async def _body(request: web.Request) -> dict[str, Any]:
    # read as every door reads JSON: a lone surrogate could not even be posted to the fakes
    try:
        return await read_json_object(request)
    except Refused as refused:
        raise web.HTTPBadRequest(text=refused.text) from None


async def sms_thread(request: web.Request) -> web.Response:
    """`GET /sandbox/api/sms?number=`: that phone's conversation with the business."""
    phone = request.app[PHONE]
    phone.collect()
    number = request.query.get("number", "")
    return web.json_response({"messages": phone.sms.get(number, [])})


async def sms_send(request: web.Request) -> web.Response:
    """`POST /sandbox/api/sms` `{from, body}`: the phone texts the business."""
    phone = request.app[PHONE]
    body = await _body(request)
    number, text = str(body.get("from", "")).strip(), str(body.get("body", ""))
    if not number.startswith("+") or not text:
        raise web.HTTPBadRequest(text="a +E.164 number and a text are needed")
    reply = await phone.twilio.post_inbound(_public(request, "/channels/sms/inbound"), number, text)
    if reply.status == 200:
        phone.collect()
        phone.sms.setdefault(number, []).append(
            {"from": "customer", "text": text, "media": [], "time": rfc3339(now())}
        )
    return web.json_response({"status": reply.status}, status=200 if reply.status == 200 else 502)


async def messenger_thread(request: web.Request) -> web.Response:
    """`GET /sandbox/api/messenger?psid=`: that person's chat; reports it delivered and read."""
    phone = request.app[PHONE]
    phone.collect()
    psid = request.query.get("psid", "")
    messages = phone.messenger.get(psid, [])
    fresh = [m for m in messages if m["from"] == "business" and not m["reported"]]
    if fresh:
        for message in fresh:
            message["reported"] = True
        task = asyncio.create_task(_report_read(request.app, psid, [m["mid"] for m in fresh]))
        phone.tasks.add(task)
        task.add_done_callback(phone.tasks.discard)
    return web.json_response({"messages": messages})


async def _report_read(app: web.Application, psid: str, mids: list[str]) -> None:
    fake = fake_module("messenger")
    graph = app[PHONE].graph
    url = app[GATEWAY].config.gateway.public_url + "/channels/messenger/webhook"
    watermark = int(time.time() * 1000) + 1
    await fake.post_event(
        url,
        graph.app_secret,
        fake.delivery_event(psid, mids, watermark, page_id=PAGE_ID),
        page_id=PAGE_ID,
    )
    await asyncio.sleep(0.5)
    await fake.post_event(
        url, graph.app_secret, fake.read_event(psid, watermark, page_id=PAGE_ID), page_id=PAGE_ID
    )


async def messenger_send(request: web.Request) -> web.Response:
    """`POST /sandbox/api/messenger` `{psid, name?, text | postback | quickReply}`."""
    phone = request.app[PHONE]
    body = await _body(request)
    psid = str(body.get("psid", "")).strip()
    if not psid:
        raise web.HTTPBadRequest(text="a PSID is needed")
    name = str(body.get("name", "")).strip()
    if name:
        first, _, last = name.partition(" ")
        phone.graph.profiles[psid] = {"first_name": first, "last_name": last}
    fake = fake_module("messenger")
    text = str(body.get("text", ""))
    tap = body.get("postback") or body.get("quickReply")
    if isinstance(tap, dict):
        title, payload = str(tap.get("title", "")), str(tap.get("payload", ""))
        builder = fake.postback_event if body.get("postback") else fake.quick_reply_event
        event = builder(psid, title, payload, page_id=PAGE_ID)
        text = title
    elif text:
        event = fake.message_event(psid, text, page_id=PAGE_ID)
    else:
        raise web.HTTPBadRequest(text="a text, postback or quickReply is needed")
    url = _public(request, "/channels/messenger/webhook")
    status, _ = await fake.post_event(url, phone.graph.app_secret, event, page_id=PAGE_ID)
    if status == 200:
        phone.collect()
        phone.messenger.setdefault(psid, []).append(
            {"from": "customer", "text": text, "time": rfc3339(now())}
        )
    return web.json_response({"status": status}, status=200 if status == 200 else 502)


def setup_phone(app: web.Application, twilio: Any, graph: Any) -> None:
    """Add the sandbox's pages and the phone's endpoints."""
    app[PHONE] = Phone(twilio, graph)
    router = app.router
    router.add_get("/sandbox", _to_demo)
    router.add_get("/sandbox/", demo)
    router.add_get("/sandbox/phone", phone_page)
    router.add_get("/sandbox/static/{name}", asset)
    router.add_get("/sandbox/api/sms", sms_thread)
    router.add_post("/sandbox/api/sms", sms_send)
    router.add_get("/sandbox/api/messenger", messenger_thread)
    router.add_post("/sandbox/api/messenger", messenger_send)


async def _to_demo(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/sandbox/")
