"""One live gateway (SMS, Messenger, web chat, an API token, an agent) for the hostile-input suite.

The gateway runs in its own thread and event loop, so hypothesis tests can stay synchronous
and talk to it over real sockets with requests no well-behaved client library would send.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import logging
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from tests.support.config import (
    Agent,
    GatewayConfig,
    messenger_channel,
    twilio_channel,
    webchat_channel,
)
from tests.support.databases import sqlite_url
from tests.support.live import GatewayThread

TOKEN = "hostile-test-token-0123456789"
ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "twilio-auth-token"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
PAGE_ID = "1234"
IDENTITY_SECRET = "site-identity-secret"
ORIGIN = "http://shop.test"
AGENT = "alice"
PASSWORD = "correct horse battery staple"
LIMIT = 65536
#: what a rejected request must not have added to
TABLES = (
    "messages",
    "contacts",
    "identities",
    "conversations",
    "deliveries",
    "events",
    "idempotency_keys",
)
Headers = Sequence[tuple[str, str]]


def hostile_config(db: Path) -> GatewayConfig:
    """Every channel, an API token and an agent. Providers are never reached: nothing listens
    on port 9, and a failed send is retried only after ten minutes, so the store changes only
    through the requests under test."""
    return GatewayConfig(
        database_url=sqlite_url(db.parent, db.name),
        business_name="Hostile Shop",
        max_body_bytes=LIMIT,
        tokens={"crm": TOKEN},
        agents=[Agent.with_password(AGENT, PASSWORD)],
        retry_delays=[600],
        channels=[
            twilio_channel("sms", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN),
            messenger_channel(
                "fb",
                page_id=PAGE_ID,
                page_access_token="page-token",
                app_secret=APP_SECRET,
                verify_token=VERIFY_TOKEN,
            ),
            webchat_channel("chat", allowed_origins=[ORIGIN], identity_secret=IDENTITY_SECRET),
        ],
    )


@dataclass
class Answer:
    """What the gateway answered: status, headers (lower-cased names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Tracebacks(logging.Handler):
    """Collects every logged exception: a hostile request must never produce one."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            return
        # aiohttp logs the requests its own HTTP parser refuses (with a 400): not ours to fix.
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 0) < 500:
            return
        self.records.append(record)

    def describe(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()} ({r.exc_info[1]!r})" for r in self.records if r.exc_info
        ]


@dataclass
class Live:
    """The running gateway, raw HTTP to it, and a look at its database."""

    port: int
    db: Path
    tracebacks: Tracebacks
    #: the gateway's own loop and application, for what a test prepares behind its back
    thread: GatewayThread
    cookie: str = ""
    conversation_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- HTTP ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: Headers = (),
        *,
        chunked: bool = False,
        head_first: bool = False,
    ) -> Answer:
        """Send one request exactly as given (raw target, raw headers, raw body): with
        `chunked`, the body in chunks; with a `Transfer-Encoding` header, the body as it is
        (chunks of the test's own making); with `head_first`, the headers in a write of their
        own, the body a moment later, as a client on a slow network sends them."""
        names = {name.lower() for name, _ in headers}
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if chunked and "transfer-encoding" not in names:
            lines.append("Transfer-Encoding: chunked")
        elif (
            not chunked
            and not names & {"content-length", "transfer-encoding"}
            and (body or method == "POST")
        ):
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = _chunk(body) if chunked else body
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            # The server may answer and close before it has read everything.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if head_first:
                    sock.sendall(head)
                    time.sleep(0.2)  # so that the gateway reads the headers alone
                    head = b""
                sock.sendall(head + payload)
            return read_answer(sock, method)

    def get(self, target: str, headers: Headers = ()) -> Answer:
        return self.request("GET", target, headers=headers)

    def post_json(self, target: str, data: Any, headers: Headers = ()) -> Answer:
        body = json.dumps(data).encode()
        return self.request("POST", target, body, [("Content-Type", "application/json"), *headers])

    @property
    def api_auth(self) -> list[tuple[str, str]]:
        return [("Authorization", f"Bearer {TOKEN}")]

    @property
    def agent_headers(self) -> list[tuple[str, str]]:
        return [("Cookie", f"ig_session={self.cookie}"), ("X-Requested-With", "inbox")]

    # -- provider signatures ---------------------------------------------------------------

    def twilio_signature(self, target: str, body: bytes) -> str:
        """A valid X-Twilio-Signature over the form fields as the gateway reads them."""
        fields = MultiDict(
            parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        )
        return str(RequestValidator(AUTH_TOKEN).compute_signature(self.url + target, fields))

    # -- the store -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table, read through a connection of our own."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}

    def settle(self) -> dict[str, int]:
        """Counts once background work (first delivery attempts, look-ups) has stopped writing."""
        before = self.counts()
        for _ in range(100):
            time.sleep(0.05)
            after = self.counts()
            if after == before and not self._untried_deliveries():
                return after
            before = after
        return before

    def _untried_deliveries(self) -> int:
        # A delivery not yet attempted will be, soon, and will write (status, events).
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            row = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'PENDING' AND attempts = 0"
            ).fetchone()
            return int(row[0])

    def healthy(self) -> bool:
        return self.get("/healthz").status == 200


def _chunk(body: bytes) -> bytes:
    parts = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def read_answer(sock: socket.socket, method: str = "GET") -> Answer:
    """Parse the HTTP answer waiting on `sock`."""
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    try:
        body = response.read()
    except (http.client.IncompleteRead, ConnectionResetError):
        body = b""
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, headers, body)


def check(live: Live, send: Any) -> Answer:
    """Run one hostile request: never a 5xx, and a refused one leaves the store as it was."""
    before = live.counts()
    live.tracebacks.records.clear()
    answer: Answer = send()
    expect(answer.status < 500, f"answered {answer.status}: {answer.body[:500]!r}")
    assert_no_tracebacks(live)
    if 400 <= answer.status < 500:
        expect(live.counts() == before, f"a refused request ({answer.status}) stored rows")
    elif answer.status < 300:
        live.settle()
    return answer


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The hostile suite's gateway, with an agent logged in and one conversation on web chat."""
    db = tmp_path_factory.mktemp("hostile") / "inbox.db"
    thread = GatewayThread(hostile_config(db))
    with thread as running:
        tracebacks = Tracebacks()
        logging.getLogger().addHandler(tracebacks)
        server = Live(running.port, db, tracebacks, thread)
        try:
            _prepare(server)
            yield server
        finally:
            logging.getLogger().removeHandler(tracebacks)


def _prepare(live: Live) -> None:
    login = live.post_json(
        "/inbox/api/login",
        {"username": AGENT, "password": PASSWORD},
        [("X-Requested-With", "inbox")],
    )
    assert login.status == 200, login.body
    cookie = login.headers["set-cookie"].split(";", 1)[0]
    live.cookie = cookie.split("=", 1)[1]
    session = live.post_json("/channels/chat/sessions", {}, [("Origin", ORIGIN)])
    assert session.status == 200, session.body
    live.conversation_id = session.json()["conversationId"]
    live.extra["token"] = session.json()["token"]
    contact = live.post_json(
        "/inbox/v2/contacts",
        {"identities": [{"channelId": "sms", "address": "+15550009999"}]},
        live.api_auth,
    )
    assert contact.status == 200, contact.body
    live.extra["contact_id"] = contact.json()["contact"]["id"]
    live.settle()


def assert_no_tracebacks(live: Live) -> None:
    """The gateway logged no exception since the last check."""
    found = live.tracebacks.describe()
    live.tracebacks.records.clear()
    expect(not found, f"the gateway logged exceptions: {found}")


def expect(condition: bool, message: str) -> None:
    """Fail with `message` alone.

    No traceback is formatted: on CPython 3.11.7, pytest's source parsing for long tracebacks
    sometimes dies with "AST constructor recursion depth mismatch" after hypothesis has moved
    the recursion limit, which would hide the finding behind an INTERNALERROR.
    """
    if not condition:
        pytest.fail(message, pytrace=False)


# -- strategies shared by the suite ---------------------------------------------------------

#: JSON values of every kind, small
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

#: bodies a careless or hostile client sends, none of them what the route expects
SPECIAL_BODIES = (
    b"",
    b"\x00",
    b"\x00" * 64,
    b"%FF%FE=%C0%AF&%=%%",
    b"a=%&b=%G1&=&&&",
    b"\xff\xfe\x00{\x00}",
    b"\xef\xbb\xbf{}",
    b'{"a": 1, "a": 2}',
    b'{"a": "\\u0000"}',
    b'{"a": "\\ud800"}',
    b"1e999999",
    b"-" * 10,
    b"NaN",
    b"[Infinity, -Infinity, NaN]",
    b'{"n": ' + b"9" * 5000 + b"}",
    b"[" * 200 + b"]" * 200,
    b'{"a":' * 200 + b"1" + b"}" * 200,
    b"null",
    b"[]",
    b'"string"',
    b"<xml/>",
    gzip.compress(b'{"object": "page"}'),
    "é=ü&ß".encode("latin-1"),
    "{}".encode("utf-16"),
)

#: form bodies, some with invalid percent-encoding of UTF-8
form_bodies = st.lists(st.tuples(st.text(max_size=12), st.text(max_size=40)), max_size=8).map(
    lambda pairs: urlencode(pairs).encode()
) | st.lists(
    st.sampled_from(["a=%FF", "%C3=%28", "b=%", "c=%E2%82", "MessageSid=%00", "=", "&"]),
    max_size=5,
).map(lambda parts: "&".join(parts).encode())

bodies: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=512),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8")),
    form_bodies,
    st.sampled_from(SPECIAL_BODIES),
)

CONTENT_TYPES = (
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/json",
    "application/json; charset=latin-1",
    "application/json; charset=no-such-charset",
    "text/plain",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "application/xml",
    "*/*",
    "",
    ";;;",
)
#: including gzip and deflate over bodies that are not compressed at all
CONTENT_ENCODINGS = (
    "br",
    "zstd",
    "identity",
    "gzip",
    "deflate",
    "gzip, gzip",
    "x-nonsense",
    "compress",
)
HEADER_NAMES = (
    "X-Twilio-Signature",
    "X-Hub-Signature-256",
    "Origin",
    "Authorization",
    "Cookie",
    "Accept",
    "Accept-Charset",
    "X-Request-Id",
    "X-Requested-With",
    "X-Forwarded-For",
    "Content-Language",
)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
header_values = header_text | st.sampled_from(
    (
        "sha256=" + "0" * 64,
        "sha256=zz",
        "sha1=abc",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        ORIGIN,
        "null",
        "ig_session=a.b",
        "ig_session=",
        "inbox",
    )
)


@st.composite
def header_sets(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A random set of headers, content type and encoding included."""
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=5))
    if draw(st.booleans()):
        headers.append(("Content-Type", draw(st.sampled_from(CONTENT_TYPES))))
    if draw(st.integers(0, 3)) == 0:
        headers.append(("Content-Encoding", draw(st.sampled_from(CONTENT_ENCODINGS))))
    return headers


#: query strings, raw: percent-encoding need not decode to UTF-8
query_strings = st.one_of(
    st.just(""),
    st.lists(st.tuples(st.text(max_size=10), st.text(max_size=30)), max_size=4).map(urlencode),
    st.sampled_from(
        (
            "%FF",
            "%",
            "a=%ZZ",
            "=&=&",
            "a=1&a=2&a=3",
            "hub.mode=subscribe&hub.verify_token=%FF&hub.challenge=%00",
            "hub.mode=subscribe&hub.challenge=x",
            "token=%00",
            "q=%C0%AF",
            ";;;",
            "x=" + "y" * 3000,
        )
    ),
)


def with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


@pytest.fixture(autouse=True)
def forget_tracebacks(live: Live) -> None:
    """Each test answers for the exceptions logged during it only."""
    live.tracebacks.records.clear()
