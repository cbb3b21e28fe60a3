"""Every adapter route fed random and malformed requests: never a 5xx, a refusal stores nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import zlib
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import WSMsgType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.plugins.routes import MAX_FRAME_BYTES
from tests.hostile.conftest import (
    ACCOUNT_SID,
    APP_SECRET,
    ORIGIN,
    PAGE_ID,
    Live,
    assert_no_tracebacks,
    bodies,
    check,
    expect,
    header_sets,
    json_values,
    query_strings,
    with_query,
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

ROUTES = (
    ("POST", "/channels/sms/inbound"),
    ("POST", "/channels/sms/status"),
    ("POST", "/channels/fb/webhook"),
    ("GET", "/channels/fb/webhook"),
    ("POST", "/channels/chat/sessions"),
    ("OPTIONS", "/channels/chat/sessions"),
    ("GET", "/channels/chat/widget.js"),
    ("PUT", "/channels/sms/inbound"),
    ("DELETE", "/channels/chat/sessions"),
    ("HEAD", "/channels/chat/widget.js"),
)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_random_requests_never_fail_the_gateway(live: Live, method: str, path: str) -> None:
    """Random bodies, headers, encodings and query strings: a 4xx stores nothing, never a 5xx."""

    @given(
        body=bodies,
        headers=header_sets(),
        query=query_strings,
        chunked=st.booleans(),
    )
    @FUZZ
    def run(body: bytes, headers: list[tuple[str, str]], query: str, chunked: bool) -> None:
        target = with_query(path, query)
        check(live, lambda: live.request(method, target, body, headers, chunked=chunked))

    run()
    assert live.healthy()


# -- Twilio: validly signed, malformed forms ------------------------------------------------

#: values Twilio would never send, for the fields the parser reads
twilio_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        (
            "",
            " ",
            "+",
            "not-a-number",
            "+1555000111122223333",
            "whatsapp:+15550001111",
            "99999999999999999999",
            "-5",
            "1e3",
            "0x10",
            "image/",
            ";",
            "x" * 5000,
            "http://",
            "javascript:alert(1)",
            "STOP",
            " start ",
        )
    ),
)
TWILIO_FIELDS = (
    "From",
    "To",
    "MessageSid",
    "SmsSid",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "MediaUrl19",
    "MediaUrl25",
    "MediaContentType25",
    "MessageStatus",
    "ErrorMessage",
)


@st.composite
def twilio_forms(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A form with random, often missing or absurd, fields; and whether it names our account."""
    fields = draw(st.dictionaries(st.sampled_from(TWILIO_FIELDS), twilio_values, max_size=8))
    ours = draw(st.integers(0, 9)) > 0
    if ours:
        fields["AccountSid"] = ACCOUNT_SID
    if draw(st.booleans()):
        fields["ErrorCode"] = draw(st.text(alphabet="0123456789²٣-+ x", max_size=6))
    if draw(st.booleans()):
        fields["MessageStatus"] = draw(
            st.sampled_from(("sent", "delivered", "read", "failed", "undelivered", "queued", "x"))
        )
    body = urlencode(fields)
    # Percent-escapes that do not decode as UTF-8 reach the parser as U+FFFD.
    extra = draw(st.sampled_from(("", "&Body=%FF%FE", "&From=%C3%28", "&%FF=%FF", "&NumMedia=%")))
    return (body + extra).encode(), ours


@pytest.mark.parametrize("path", ["/channels/sms/inbound", "/channels/sms/status"])
def test_signed_but_malformed_twilio_forms_are_handled(live: Live, path: str) -> None:
    """Forms with a valid X-Twilio-Signature but nonsense fields reach the parser safely."""

    statuses: list[int] = []

    @given(form=twilio_forms())
    @FUZZ
    def run(form: tuple[bytes, bool]) -> None:
        body, ours = form
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", live.twilio_signature(path, body)),
        ]
        answer = check(live, lambda: live.request("POST", path, body, headers))
        # The signature is valid, so only the account or the fields may be refused.
        assert answer.status != 403 or not ours, answer.body
        statuses.append(answer.status)

    run()
    assert any(status != 403 for status in statuses), "no signed form got past the signature"


def test_signed_twilio_message_is_stored_once(live: Live) -> None:
    """The signing helper is right: a proper signed message is accepted and stored."""
    path = "/channels/sms/inbound"
    body = urlencode(
        {
            "AccountSid": ACCOUNT_SID,
            "From": "+15550002222",
            "MessageSid": "SMhostile1",
            "Body": "hi",
        }
    ).encode()
    headers = [("X-Twilio-Signature", live.twilio_signature(path, body))]
    before = live.counts()
    assert check(live, lambda: live.request("POST", path, body, headers)).status == 200
    assert check(live, lambda: live.request("POST", path, body, headers)).status == 200
    assert live.settle()["messages"] == before["messages"] + 1


@pytest.mark.parametrize("code", ["²", "1" * 5000])
def test_status_callback_with_odd_error_code_is_not_a_server_error(live: Live, code: str) -> None:
    """A signed `failed` callback with a non-ASCII-digit or absurdly long ErrorCode is no 5xx."""
    path = "/channels/sms/status"
    body = urlencode(
        {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": "SM1",
            "MessageStatus": "failed",
            "ErrorCode": code,
        }
    ).encode()
    headers = [("X-Twilio-Signature", live.twilio_signature(path, body))]
    check(live, lambda: live.request("POST", path, body, headers))


# -- Messenger: validly signed, malformed JSON ----------------------------------------------

ids = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.booleans(), json_values)
timestamps = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=15),
    st.none(),
    st.just(1_700_000_000_000),
)
urls = st.one_of(
    st.sampled_from(("https://cdn.test/a.jpg", "https://cdn.test/voice.mp4", "http://", "ftp://x")),
    st.text(max_size=20),
    json_values,
)
payloads = (
    st.none()
    | json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "url": urls,
            "coordinates": json_values
            | st.fixed_dictionaries({"lat": json_values, "long": json_values}),
            "elements": json_values
            | st.lists(st.dictionaries(st.sampled_from(("title", "subtitle")), json_values)),
            "sticker_id": json_values,
            "text": json_values,
        },
    )
)
attachments = json_values | st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ("image", "video", "audio", "file", "location", "template", "fallback")
        )
        | json_values,
        "payload": payloads,
        "title": json_values,
        "url": urls,
    },
)
messages = json_values | st.fixed_dictionaries(
    {},
    optional={
        "mid": ids,
        "text": st.text(max_size=50) | json_values,
        "attachments": st.lists(attachments, max_size=3) | json_values,
        "quick_reply": json_values | st.fixed_dictionaries({"payload": json_values}),
        "is_echo": st.booleans() | json_values,
        "app_id": ids,
    },
)
parties = json_values | st.fixed_dictionaries({"id": ids})
events = json_values | st.fixed_dictionaries(
    {},
    optional={
        "sender": parties,
        "recipient": parties,
        "timestamp": timestamps,
        "message": messages,
        "postback": json_values
        | st.fixed_dictionaries(
            {}, optional={"mid": ids, "title": json_values, "payload": json_values}
        ),
        "delivery": json_values
        | st.fixed_dictionaries({}, optional={"mids": json_values, "watermark": timestamps}),
        "read": json_values | st.fixed_dictionaries({}, optional={"watermark": timestamps}),
        "reaction": json_values,
    },
)
entries = json_values | st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from((PAGE_ID, int(PAGE_ID), "other")) | ids,
        "time": timestamps,
        "messaging": st.lists(events, max_size=3) | json_values,
        "standby": json_values,
    },
)
meta_bodies = st.fixed_dictionaries(
    {"object": st.sampled_from(("page", "page", "page", "instagram")) | json_values},
    optional={"entry": st.lists(entries, max_size=3) | json_values},
)


@given(payload=meta_bodies, ascii_only=st.booleans())
@FUZZ
def test_signed_but_malformed_messenger_events_are_handled(
    live: Live, payload: Any, ascii_only: bool
) -> None:
    """Validly signed JSON of wrong shapes and types reaches the parser safely."""
    body = json.dumps(payload, ensure_ascii=ascii_only).encode()
    answer = check(
        live, lambda: live.request("POST", "/channels/fb/webhook", body, signed_meta(body))
    )
    assert answer.status != 403, "a validly signed body was refused as unsigned"


def signed_meta(body: bytes) -> list[tuple[str, str]]:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return [("Content-Type", "application/json"), ("X-Hub-Signature-256", signature)]


def test_signed_messenger_text_with_a_lone_surrogate_is_not_a_server_error(live: Live) -> None:
    """A signed message whose text is a lone UTF-16 surrogate escape gets no 5xx."""
    body = (
        b'{"object":"page","entry":[{"id":"1234","messaging":[{"sender":{"id":"77"},'
        b'"timestamp":1700000000000,"message":{"mid":"m-surrogate","text":"\\ud800"}}]}]}'
    )
    check(live, lambda: live.request("POST", "/channels/fb/webhook", body, signed_meta(body)))


@pytest.mark.parametrize("path", ["/channels/fb/webhook", "/channels/chat/sessions"])
def test_deeply_nested_json_is_refused_not_a_server_error(live: Live, path: str) -> None:
    """A (signed) body of 50,000 nested arrays is a 4xx, not a crash."""
    body = b"[" * 50_000
    headers = [*signed_meta(body), ("Origin", "http://shop.test")]
    answer = check(live, lambda: live.request("POST", path, body, headers))
    assert 400 <= answer.status < 500, answer


# -- web chat: random frames over a real WebSocket ------------------------------------------

#: what the WebSocket protocol answers to invalid UTF-8 text (1007) and over-size frames (1009)
PROTOCOL_CLOSES = {1007, 1009}

valid_content = st.sampled_from(
    (
        {"basic": {"items": [{"text": "hello"}]}},
        {"minimal": {"text": "hi"}},
        {"basic": {"items": [{"image": {"url": "https://x.test/a.png"}}]}},
    )
)
frame_fields = st.fixed_dictionaries(
    {"type": st.sampled_from(("message", "interact", "read", "sync", "hello")) | json_values},
    optional={
        "clientMessageId": st.text(max_size=10) | json_values | st.just("x" * 200),
        "content": valid_content | json_values | st.just({"system": {"text": "x"}}),
        "messageId": st.text(max_size=10) | json_values,
        "interactionId": st.text(max_size=10) | json_values,
        "sequence": st.sampled_from(("0", "1", "-1", "\u0661", "99999999999999999999", "", "1e3"))
        | json_values,
        "afterSequence": st.sampled_from(("0", "x", "-5")) | json_values,
    },
)
#: (opcode, payload): text frames (JSON or not), binary, invalid UTF-8 text, over-size text
frames = st.one_of(
    frame_fields.map(lambda f: ("text", json.dumps(f).encode())),
    st.text(max_size=200).map(lambda t: ("text", t.encode())),
    st.binary(max_size=200).map(lambda b: ("binary", b)),
    st.sampled_from((b"\xff\xfe", b'{"type": "sync", "x": "\xc3\x28"}')).map(lambda b: ("text", b)),
    st.sampled_from((60_000, MAX_FRAME_BYTES + 1)).map(lambda n: ("text", big_frame(n))),
)


def big_frame(size: int) -> bytes:
    """A message frame of exactly `size` bytes, its text far over the 4096-character limit."""
    head = b'{"type": "message", "clientMessageId": "big", "content": {"minimal": {"text": "'
    tail = b'"}}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def closes_socket(kind: str, payload: bytes) -> bool:
    """Whether the WebSocket protocol itself ends the socket for this frame (1007 or 1009)."""
    if kind != "text":
        return len(payload) > MAX_FRAME_BYTES
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return len(payload) > MAX_FRAME_BYTES


async def _talk(
    live: Live, token: str, sent: list[tuple[str, bytes]]
) -> list[list[dict[str, Any]]]:
    """Send each frame, then a `sync` as a barrier, and check what came back.

    Answers, per frame the socket stayed open for, the frames that came back before the
    barrier's history (the socket answered the barrier, so it was still open).
    """
    answered: list[list[dict[str, Any]]] = []
    url = f"{live.url}/channels/chat/ws?token={token}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for kind, payload in sent:
            before = live.counts()
            opcode = WSMsgType.BINARY if kind == "binary" else WSMsgType.TEXT
            await ws.send_frame(payload, opcode)
            if closes_socket(kind, payload):
                message = await ws.receive(timeout=20)
                # a fuzzed `sync` is answered with a history of its own besides the barrier's,
                # so an answer to an earlier frame may still come before the close
                while message.type is WSMsgType.TEXT:
                    message = await ws.receive(timeout=20)
                assert message.type is WSMsgType.CLOSE, message
                assert ws.close_code in PROTOCOL_CLOSES, ws.close_code
                assert live.counts() == before, "a refused frame stored rows"
                return answered
            await ws.send_str('{"type": "sync", "afterSequence": "999999"}')
            answers: list[dict[str, Any]] = []
            while True:
                message = await ws.receive(timeout=20)
                # SPEC: a bad frame gets an error frame and the socket stays open.
                expect(
                    message.type is WSMsgType.TEXT,
                    f"got {message.type} (close {ws.close_code}) after {payload[:200]!r}",
                )
                data = json.loads(message.data)
                if data.get("type") == "history":
                    break
                answers.append(data)
            refused = any(a.get("type") == "error" for a in answers)
            acked = any(a.get("type") == "ack" for a in answers)
            if refused and not acked:
                assert live.counts() == before, (answers, payload[:200])
            answered.append(answers)
    return answered


@given(sent=st.lists(frames, min_size=1, max_size=6))
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_random_websocket_frames_are_answered_or_closed_cleanly(
    live: Live, sent: list[tuple[str, bytes]]
) -> None:
    """Bad frames get error frames (bad UTF-8 or size: a clean close); refusals store nothing."""
    opened = check(
        live, lambda: live.post_json("/channels/chat/sessions", {}, [("Origin", ORIGIN)])
    )
    assert opened.status == 200
    asyncio.run(_talk(live, opened.json()["token"], sent))
    assert_no_tracebacks(live)
    assert live.healthy()


@pytest.mark.parametrize(
    "query", ["", "token=", "token=%FF", "token=a.b", "token=" + "x" * 3000, "token=%00.%00"]
)
def test_websocket_without_a_valid_token_is_closed_with_a_reason(live: Live, query: str) -> None:
    """A socket with a missing or forged token gets an error frame and a 4401 close."""

    async def talk() -> tuple[Any, int | None]:
        url = f"{live.url}/channels/chat/ws?{query}"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            first = await ws.receive(timeout=20)
            await ws.receive(timeout=20)
            return json.loads(first.data), ws.close_code

    before = live.counts()
    frame, code = asyncio.run(talk())
    assert frame["type"] == "error" and code == 4401
    assert live.counts() == before
    assert_no_tracebacks(live)


def test_deeply_nested_frame_gets_an_error_frame(live: Live) -> None:
    """A frame of 30,000 nested arrays is answered with an error frame; the socket stays open."""
    opened = live.post_json("/channels/chat/sessions", {}, [("Origin", ORIGIN)])
    before = live.counts()
    [answers] = asyncio.run(_talk(live, opened.json()["token"], [("text", b"[" * 30_000)]))
    assert [a["type"] for a in answers] == ["error"], answers
    assert live.counts() == before
    assert_no_tracebacks(live)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "clientMessageId": bad, "content": {"minimal": {"text": "hi"}}}
        for bad in ("c\x00", "c\ud800")
    ]
    + [{"type": "interact", "messageId": "m\x00", "interactionId": "yes"}]
    + [{"type": "interact", "messageId": "m", "interactionId": "yes\udfff"}],
    ids=["message-nul", "message-surrogate", "interact-nul", "interact-surrogate"],
)
def test_an_id_no_database_keeps_is_a_bad_frame(live: Live, frame: dict[str, Any]) -> None:
    """A NUL or a lone surrogate in a frame's id is refused like one in its text: not an
    UNAVAILABLE ("send it again") after a write that could never succeed, and its traceback."""
    opened = live.post_json("/channels/chat/sessions", {}, [("Origin", ORIGIN)])
    before = live.counts()
    [answers] = asyncio.run(
        _talk(live, opened.json()["token"], [("text", json.dumps(frame).encode())])
    )
    assert [(a["type"], a["code"]) for a in answers] == [("error", "BAD_FRAME")], answers
    assert live.counts() == before
    assert_no_tracebacks(live)


#: the doors a body comes in at: a provider's webhook, the REST API, the inbox page
DOORS = ["/channels/sms/inbound", "/inbox/v2/contacts", "/inbox/api/login"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("path", DOORS)
def test_body_that_does_not_decompress_is_a_client_error(
    live: Live, path: str, encoding: str
) -> None:
    """Content-Encoding: gzip (or deflate) over a plain body is a 400, not a 500, with the
    same code at every door (the API's was INVALID_REQUEST)."""
    headers = [
        ("Content-Encoding", encoding),
        ("Content-Type", "application/json"),
        ("X-Requested-With", "inbox"),
        *live.api_auth,
    ]
    answer = check(live, lambda: live.request("POST", path, b'{"identities": []}', headers))
    assert answer.status == 400, answer
    assert answer.json()["details"]["applicationError"]["code"] == "INVALID_BODY"


#: Content-Encoding headers (each value one header) that the gateway does not read
UNREAD_CODINGS = {
    "br": ["br"],
    "zstd": ["zstd"],
    "compress": ["compress"],
    "x-gzip": ["x-gzip"],
    "a list": ["gzip, deflate"],
    "gzip, then compress": ["gzip", "compress"],
    "identity, then compress": ["identity", "compress"],
    "gzip and a no-break space": ["gzip\xc2\xa0"],  # sent as UTF-8 bytes
    "an ideographic space and gzip": ["\xe3\x80\x80gzip"],
}


@pytest.mark.parametrize("coding", list(UNREAD_CODINGS))
@pytest.mark.parametrize(
    "path", ["/channels/sms/inbound", "/inbox/v2/contacts", "/inbox/api/login"]
)
def test_a_body_in_a_coding_the_gateway_does_not_read_is_a_415(
    live: Live, path: str, coding: str
) -> None:
    """aiohttp's parser refuses br and zstd with a plain-text 400 of its own, and reads any
    other coding as a plain body (of a header given twice, the last; a value with a space
    other than ASCII's is not gzip to it): a signed SMS sent with `Content-Encoding:
    compress` was stored. Each is now the gateway's JSON 415, naming what it reads, and
    stores nothing."""
    body = urlencode(
        {"AccountSid": ACCOUNT_SID, "From": "+15550003333", "MessageSid": "SMcoded1", "Body": "hi"}
    ).encode()
    headers = [
        *(("Content-Encoding", value) for value in UNREAD_CODINGS[coding]),
        ("X-Twilio-Signature", live.twilio_signature(path, body)),
        ("X-Requested-With", "inbox"),
        *live.api_auth,
    ]
    answer = check(live, lambda: live.request("POST", path, body, headers))
    assert answer.status == 415, answer
    assert answer.json()["details"]["applicationError"]["code"] == "UNSUPPORTED_CONTENT_ENCODING"
    assert answer.headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("head_first", [False, True], ids=["in one write", "headers first"])
@pytest.mark.parametrize("path", DOORS)
def test_a_body_that_stops_inflating_is_a_json_400_not_a_415(
    live: Live, path: str, head_first: bool
) -> None:
    """A deflate body cut short fails in aiohttp's parser, as a coding error, only at its end:
    it is the body's fault, not an unread coding. It was aiohttp's plain-text 400 when it came
    in the same read as its headers, and when the headers came first, no answer at all: the
    handler waited for the rest of the body for ever. Now the same JSON 400 at every door."""
    body = zlib.compress(b'{"identities": []}' * 50)[:-6]
    _assert_invalid_body(live, path, body, ("Content-Encoding", "deflate"), head_first)


@pytest.mark.parametrize("path", DOORS)
def test_a_malformed_chunk_after_the_headers_is_answered_not_left_waiting(
    live: Live, path: str
) -> None:
    """A chunked body whose second chunk's size is not a number, sent after its headers: the
    handler already reading the body waited for it for ever (the body's read timeout stopped
    watching once the parser failed), holding the connection. Now it is a 400 at once."""
    body = b'5\r\n{"ide\r\nZZ\r\nxx\r\n0\r\n\r\n'
    _assert_invalid_body(live, path, body, ("Transfer-Encoding", "chunked"), head_first=True)


def _assert_invalid_body(
    live: Live, path: str, body: bytes, framing: tuple[str, str], head_first: bool
) -> None:
    """The door answers a JSON body it cannot read with 400 `INVALID_BODY`, storing nothing."""
    headers = [
        framing,
        ("Content-Type", "application/json"),
        ("X-Requested-With", "inbox"),
        *live.api_auth,
    ]
    answer = check(live, lambda: live.request("POST", path, body, headers, head_first=head_first))
    assert answer.status == 400, answer
    assert answer.json()["details"]["applicationError"]["code"] == "INVALID_BODY"
