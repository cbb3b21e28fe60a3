"""The REST API fed generated and malformed requests: never a 5xx, a refusal stores nothing."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.hostile.conftest import (
    TOKEN,
    Answer,
    Live,
    bodies,
    check,
    header_sets,
    json_values,
    read_answer,
    with_query,
)

FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
Case = schemathesis.Case[Any]

ROUTES = (
    ("POST", "/inbox/v2/conversations"),
    ("GET", "/inbox/v2/conversations"),
    ("GET", "/inbox/v2/conversations/{id}"),
    ("POST", "/inbox/v2/messages"),
    ("GET", "/inbox/v2/messages"),
    ("GET", "/inbox/v2/messages/{id}"),
    ("POST", "/inbox/v2/contacts"),
    ("GET", "/inbox/v2/contacts/{id}"),
    ("POST", "/inbox/v2/contacts/{id}/merge"),
    ("GET", "/inbox/v2/openapi.json"),
    ("DELETE", "/inbox/v2/messages"),
)
POSTS = [path for method, path in ROUTES if method == "POST"]

authorizations = st.sampled_from(
    (
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"Bearer  {TOKEN} ",
        f"Bearer {TOKEN} extra",
        f"Bearer\t{TOKEN}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        "Bearer ",
        "Bearer " + "\xff" * 10,
        "Bearer " + TOKEN[:-1],
        "Bearer " + TOKEN + TOKEN,
        "",
        "Bearer %00",
    )
)
ids = st.one_of(
    st.sampled_from(("%FF", "%00", "..", "%2e%2e", "x" * 300, "%C3%28", "null", "-1")),
    st.text(alphabet="abcdef0123456789-", max_size=40),
)
queries = st.one_of(
    st.sampled_from(
        (
            "",
            "paging.limit=-1",
            "paging.limit=0",
            "paging.limit=101",
            "paging.limit=1e3",
            "paging.limit=99999999999999999999999",
            "paging.limit=%FF",
            "paging.cursor=%FF",
            "paging.cursor=%00",
            "paging.cursor=" + "A" * 2000,
            "paging.cursor=eyJ9",
            "paging.cursor=bnVsbA",
            "visibility=BUSINESS&conversationId=%FF",
            "visibility=NOPE&conversationId=x",
            "visibility=BUSINESS&conversationId=x&sorting.order=SIDEWAYS",
            "sorting.order=ASC&sorting.order=DESC",
            "%FF=%FF",
            "conversationId",
            "a=1;b=2",
        )
    ),
    st.lists(
        st.tuples(
            st.sampled_from(
                ("paging.limit", "paging.cursor", "visibility", "conversationId", "sorting.order")
            ),
            st.text(max_size=20),
        ),
        max_size=4,
    ).map(lambda pairs: "&".join(f"{k}={json.dumps(v)[1:-1]}" for k, v in pairs)),
)


def _quote_raw(text: str) -> str:
    # Keep raw `%` escapes (they may not decode as UTF-8); escape what cannot be in a URL.
    return "".join(
        c if 0x21 <= ord(c) < 0x7F and c not in "#?" else "%%%02X" % (ord(c) & 0xFF) for c in text
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_random_api_requests_never_fail(live: Live, method: str, path: str) -> None:
    """Random bodies, headers, Authorization forms, ids and queries: 4xx stores nothing, no 5xx."""

    @given(
        body=bodies
        | json_values.map(lambda v: json.dumps({"message": v, "conversationId": v}).encode()),
        headers=header_sets(),
        authorization=authorizations,
        target_id=ids,
        query=queries,
        chunked=st.booleans(),
    )
    @FUZZ
    def run(
        body: bytes,
        headers: list[tuple[str, str]],
        authorization: str,
        target_id: str,
        query: str,
        chunked: bool,
    ) -> None:
        target = with_query(path.replace("{id}", target_id), _quote_raw(query))
        sent = [("Authorization", authorization), *headers] if authorization else headers
        check(live, lambda: live.request(method, target, body, sent, chunked=chunked))

    run()


#: forms JSON parsers may accept (RFC 8259 allows ignoring a BOM; the last duplicate key wins)
LENIENT = {"duplicate keys", "UTF-16", "BOM"}
MALFORMED = {
    "duplicate keys": b'{"conversationId": "a", "conversationId": "b", "message": {}}',
    "huge number": b'{"conversationId": 1e999999, "message": {"content": 1e400}}',
    "4300+ digit integer": b'{"paging": ' + b"9" * 5000 + b"}",
    "NUL in a string": b'{"identities": [{"channelId": "chat", "address": "a\\u0000b"}]}',
    "raw NUL byte": b'{"displayName": "a\x00b", "identities": []}',
    "lone surrogate": b'{"identities": [{"channelId": "chat", "address": "\\ud800"}]}',
    "surrogate key": b'{"\\udfff": 1}',
    "invalid UTF-8": b'{"displayName": "\xc3\x28", "identities": []}',
    "UTF-16": '{"identities": []}'.encode("utf-16"),
    "BOM": b'\xef\xbb\xbf{"identities": []}',
    "NaN and Infinity": b'{"participantId": NaN, "identities": [Infinity]}',
    "trailing garbage": b'{"identities": []} trailing',
    "array": b"[]",
    "string": b'"x"',
    "empty": b"",
    "nested 500 deep": b'{"a": ' * 500 + b"1" + b"}" * 500,
    "wrong types": b'{"participantId": [], "message": "x", "sourceContactIds": {"a": 1}}',
    "long text": json.dumps({"displayName": "x" * 60000, "identities": []}).encode(),
}


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_json_is_a_client_error(live: Live, path: str, name: str) -> None:
    """Duplicate keys, huge numbers, NUL characters, bad encodings…: a 4xx, nothing stored."""
    target = path.replace("{id}", live.extra["contact_id"])
    for content_type in ("application/json", "text/plain; charset=latin-1"):
        sent = [*live.api_auth, ("Content-Type", content_type)]
        answer = check(live, lambda h=sent: live.request("POST", target, MALFORMED[name], h))
        assert 400 <= answer.status < 500 or name in LENIENT, answer.body
        assert_spec_error(answer)


def assert_spec_error(answer: Answer) -> None:
    """A refusal carries SPEC section 4's error body."""
    if answer.status >= 400:
        body = answer.json()
        assert isinstance(body["message"], str) and isinstance(body["details"], dict)


def test_deeply_nested_json_is_refused(live: Live) -> None:
    """A body of 50,000 nested arrays is a 400, not a 500."""
    headers = [*live.api_auth, ("Content-Type", "application/json")]
    answer = check(live, lambda: live.request("POST", "/inbox/v2/messages", b"[" * 50_000, headers))
    assert answer.status == 400, answer


def test_badges_nested_deeper_than_a_column_can_be_written_are_refused(live: Live) -> None:
    """A message's badges are kept as sent: nested 300 deep, they were read, then failed to be
    written (orjson writes 254 levels): a 500 and a traceback. Now a 400, nothing stored."""
    badge = "[" * 300 + "1" + "]" * 300
    body = (
        f'{{"conversationId": "{live.conversation_id}", "message": {{"content": '
        f'{{"basic": {{"items": [{{"text": "hi"}}]}}}}, "visibility": "BUSINESS", '
        f'"badges": [{{"x": {badge}}}]}}}}'
    ).encode()
    headers = [*live.api_auth, ("Content-Type", "application/json")]
    answer = check(live, lambda: live.request("POST", "/inbox/v2/messages", body, headers))
    assert answer.status == 400, answer
    assert_spec_error(answer)


_AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()

#: requests aiohttp's HTTP parser refuses before any handler runs
UNPARSEABLE = {
    "a request line over 8,190 bytes": b"GET /inbox/v2/messages?conversationId="
    + b"a" * 9000
    + b" HTTP/1.1\r\nHost: x\r\n"
    + _AUTH
    + b"\r\n",
    "a header over 8,190 bytes": b"GET /inbox/v2/conversations HTTP/1.1\r\nHost: x\r\nX-Big: "
    + b"a" * 9000
    + b"\r\n"
    + _AUTH
    + b"\r\n",
    "Content-Length twice": b"POST /inbox/v2/contacts HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 2\r\nContent-Length: 3\r\n" + _AUTH + b"\r\n{}",
    "a chunk size that is not a number": b"POST /inbox/v2/contacts HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n" + _AUTH + b"\r\nZZ\r\nxx\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(UNPARSEABLE))
def test_a_request_the_http_parser_refuses_gets_the_api_error_body(live: Live, name: str) -> None:
    """SPEC section 4: every error has the error body. aiohttp answered these in plain text."""

    def send() -> Answer:
        with socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
            sock.sendall(UNPARSEABLE[name])
            return read_answer(sock)

    answer = check(live, send)
    assert answer.status == 400, answer
    assert answer.json()["details"]["applicationError"]["code"] == "MALFORMED_REQUEST"
    assert_spec_error(answer)


# -- schemathesis against the served OpenAPI document ---------------------------------------


@pytest.fixture(scope="module")
def api_schema(live: Live) -> Any:
    """The served document, pointed at the live gateway."""
    served = live.get("/inbox/v2/openapi.json").json()
    schema = schemathesis.openapi.from_dict(served)
    schema.config.update(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"})
    return schema


def steer(live: Live) -> Any:
    """Point a generated case's ids at real records, so that deeper code gets reached."""

    def point(case: Case) -> Case:
        if case.path_parameters and "id" in case.path_parameters:
            known = (
                live.extra["contact_id"]
                if "contacts" in case.operation.path
                else live.conversation_id
            )
            case.path_parameters["id"] = known
        if isinstance(case.body, dict) and "conversationId" in case.body:
            case.body["conversationId"] = live.conversation_id
        return case

    return point


@pytest.mark.parametrize("mode", [GenerationMode.NEGATIVE, GenerationMode.POSITIVE])
def test_schema_generated_requests_store_nothing_when_refused(
    api_schema: Any, live: Live, mode: GenerationMode
) -> None:
    """Schemathesis cases (valid and invalid): never a 5xx, and a 4xx leaves the store as it was."""
    strategy = api_schema.as_strategy(generation_mode=mode)
    strategy = strategy | strategy.map(steer(live))

    @given(case=strategy)
    @settings(
        max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: Case) -> None:
        def send() -> Answer:
            response = case.call(base_url=live.url, headers=live_auth(case))
            headers = {k.lower(): v[0] for k, v in response.headers.items() if v}
            return Answer(response.status_code, headers, response.content)

        check(live, send)

    run()


def live_auth(case: Case) -> dict[str, str]:
    # Negative cases may have generated their own Authorization header: keep it.
    if case.headers and any(k.lower() == "authorization" for k in case.headers):
        return {}
    return {"Authorization": f"Bearer {TOKEN}"}
