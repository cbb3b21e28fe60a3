"""What the Messenger adapter's tests share: Meta's recorded webhooks, signing, the adapter,
the Graph fake and the adapter's kit."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from adapters.messenger import MessengerAdapter, MessengerConfig
from adapters.messenger.fake import FakeGraph
from channels import OutboundPart, Part, TextPart, WebhookRequest
from channels.testing import AdapterKit, CannedResponse, RecordingHost, SendCase, json_request

PAGE = "104060582475931"
PSID = "6847213315330411"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TOKEN = "EAAG-page-token-never-logged"
VERIFY = "let-me-in"
WEBHOOK = "/channels/facebook/webhook"
SEND = "/v24.0/me/messages"
OUR_APP = "1179204669887413"

# Recorded shapes of Meta's webhook bodies (ids replaced), as bytes exactly as sent:
# Meta escapes non-ASCII characters, which the signature covers.
TEXT = (
    b'{"object":"page","entry":[{"time":1732680000123,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680000011,"message":{"mid":"m_AAAtext1",'
    b'"text":"Is the caf\\u00e9 open?"}}]}]}'
)
IMAGE = (
    b'{"object":"page","entry":[{"time":1732680001000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680000999,"message":{"mid":"m_AAAimage1","attachments":[{"type":"image",'
    b'"payload":{"url":"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/t1.15752-9\\/photo_n.jpg?stp=dst"}}]}}]}]}'
)
MEDIA = (
    b'{"object":"page","entry":[{"time":1732680001000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680000999,"message":{"mid":"m_AAAmedia1","attachments":['
    b'{"type":"audio","payload":{"url":"https:\\/\\/cdn.fbsbx.com\\/v\\/t59.3654-21\\/'
    b'audioclip-1732680000.mp4?_nc_cat=1"}},'
    b'{"type":"video","payload":{"url":"https:\\/\\/video.xx.fbcdn.net\\/v\\/clip.mp4?x=1"}},'
    b'{"type":"file","payload":{"url":"https:\\/\\/cdn.fbsbx.com\\/v\\/t59\\/invoice.pdf?x=1"}},'
    b'{"type":"image","payload":{"url":"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/sticker.png",'
    b'"sticker_id":369239263222822}},'
    b'{"type":"fallback","title":"Our menu","url":"https:\\/\\/shop.example.com\\/menu",'
    b'"payload":null}]}}]}]}'
)
QUICK_REPLY = (
    b'{"object":"page","entry":[{"time":1732680002000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680001999,"message":{"mid":"m_AAAqr1","text":"Tomorrow",'
    b'"quick_reply":{"payload":"slot-tomorrow"}}}]}]}'
)
POSTBACK = (
    b'{"object":"page","entry":[{"time":1732680003000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680002999,"postback":{"title":"Track my order","payload":"track-42",'
    b'"mid":"m_AAApb1"}}]}]}'
)
POSTBACK_NO_MID = (
    b'{"object":"page","entry":[{"time":1732680003000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680002999,"postback":{"title":"Get Started","payload":"GET_STARTED"}}]}]}'
)
DELIVERY = (
    b'{"object":"page","entry":[{"time":1732680004000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680003999,"delivery":{"mids":["m_ours1","m_ours2"],'
    b'"watermark":1732680003500}}]}]}'
)
READ = (
    b'{"object":"page","entry":[{"time":1732680005000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680004999,"read":{"watermark":1732680004500}}]}]}'
)
ECHO_PAGE_INBOX = (
    b'{"object":"page","entry":[{"time":1732680006000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"104060582475931"},"recipient":{"id":"6847213315330411"},'
    b'"timestamp":1732680005999,"message":{"mid":"m_AAAecho1","is_echo":true,'
    b'"text":"Yes, until 6pm","app_id":263902037430900}}]}]}'
)
ECHO_OUR_APP = (
    b'{"object":"page","entry":[{"time":1732680007000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"104060582475931"},"recipient":{"id":"6847213315330411"},'
    b'"timestamp":1732680006999,"message":{"mid":"m_AAAecho2","is_echo":true,'
    b'"text":"Sent through the gateway","app_id":1179204669887413}}]}]}'
)
REACTION = (
    b'{"object":"page","entry":[{"time":1732680008000,"id":"104060582475931","messaging":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680007999,"reaction":{"reaction":"love","emoji":"\\u2764\\ufe0f",'
    b'"action":"react","mid":"m_ours1"}}]}]}'
)
STANDBY = (
    b'{"object":"page","entry":[{"time":1732680009000,"id":"104060582475931","standby":'
    b'[{"sender":{"id":"6847213315330411"},"recipient":{"id":"104060582475931"},'
    b'"timestamp":1732680008999,"message":{"mid":"m_AAAstandby","text":"to the other app"}}]}]}'
)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(body: bytes, signature: str | None = "auto") -> WebhookRequest:
    """The webhook POST as Meta sends it, signed with the app secret unless told otherwise."""
    headers = (
        {}
        if signature is None
        else {"X-Hub-Signature-256": sign(body) if signature == "auto" else signature}
    )
    return json_request(WEBHOOK, body, headers=headers)


def verification(query: dict[str, str]) -> WebhookRequest:
    return json_request(WEBHOOK, b"", method="GET", query=query)


def host() -> RecordingHost:
    return RecordingHost(channel_id="facebook")


def adapter(
    recording: RecordingHost, graph_base_url: str | None = None, **overrides: object
) -> MessengerAdapter:
    """The Messenger channel `facebook` of PAGE, recognising echoes of OUR_APP."""
    settings: dict[str, Any] = {
        "type": "messenger",
        "page_id": PAGE,
        "page_access_token": TOKEN,
        "app_secret": SECRET,
        "verify_token": VERIFY,
        "app_id": OUR_APP,
    }
    if graph_base_url is not None:
        settings["graph_base_url"] = graph_base_url
    settings.update(overrides)
    return MessengerAdapter("facebook", MessengerConfig.model_validate(settings), recording)


def fake() -> FakeGraph:
    """The Graph API, knowing the PSID's profile."""
    profiles = {PSID: {"first_name": "Ada", "last_name": "Lovelace", "profile_pic": PICTURE}}
    return FakeGraph(access_token=TOKEN, app_secret=SECRET, profiles=profiles)


PICTURE = "https://platform-lookaside.fbsbx.com/ada.jpg"


def out(
    part: Part, *, agent_window: bool = False, is_response: bool = True, to: str = PSID
) -> OutboundPart:
    return OutboundPart(
        part=part,
        recipient=to,
        message_id="msg-1",
        conversation_id="conv-1",
        agent_window=agent_window,
        is_response=is_response,
    )


def graph_error(code: int, subcode: int | None = None, status: int = 400) -> CannedResponse:
    """An error answer as the Graph API gives it."""
    error: dict[str, Any] = {
        "message": f"(#{code}) refused",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf0123456789",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return CannedResponse(status, {"error": error})


KIT = AdapterKit(
    name="messenger",
    build=adapter,
    secrets=[TOKEN, SECRET, VERIFY],
    message=post(TEXT),
    unsigned=[post(TEXT, signature=None), post(TEXT, signature=sign(TEXT, "another-secret"))],
    malformed=[post(b"{not json"), post(b'{"object":"page","entry":{"id":"x"}}')],
    sends=[
        SendCase("a text", out(TextPart("Hello"))),
        SendCase(
            "a refused token, which is logged",
            out(TextPart("Hello")),
            responses=[graph_error(190)],
            retryable=False,
        ),
        SendCase(
            "an outage",
            out(TextPart("Hello")),
            responses=[graph_error(2, status=503)],
            retryable=True,
        ),
    ],
    profile_address=PSID,
    provider=fake,
    host=host,
)
